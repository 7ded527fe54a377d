/** Registry tables: the single source of truth; migrations in migrations/ are generated from this. */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  doublePrecision,
  bigserial,
  foreignKey,
  index,
  integer,
  jsonb,
  pgSchema,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

export const kaizen = pgSchema('kaizen');

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

export const entities = kaizen.table('entities', {
  name: text('name').primaryKey(),
  joinKey: text('join_key').notNull(),
  description: text('description'),
  createdAt: createdAt(),
});

export const featureViews = kaizen.table('feature_views', {
  name: text('name').primaryKey(),
  latestVersion: integer('latest_version').notNull(),
  createdAt: createdAt(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Every applied definition, immutable: `name@vN`. */
export const featureViewVersions = kaizen.table(
  'feature_view_versions',
  {
    viewName: text('view_name')
      .notNull()
      .references(() => featureViews.name),
    version: integer('version').notNull(),
    fingerprint: text('fingerprint').notNull(),
    definition: jsonb('definition').notNull(),
    /** Output features (name, type) in column order. */
    features: jsonb('features').notNull(),
    offlineTable: text('offline_table').notNull(),
    onlineTable: text('online_table').notNull(),
    /** How stored entity keys are spelled (feature-store/definitions/entity-keys.ts); older versions keep theirs. */
    keyEncoding: text('key_encoding').notNull().default('joined'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.viewName, t.version] })],
);

/**
 * Every applied on-demand view, immutable: `name@vN`. Its code is the content-addressed bundle
 * `bundle_sha256` (code_bundles), which is what training and serving run; `module` only records
 * where it was bundled from. Versions registered before bundles existed have none and cannot run.
 */
export const onDemandViewVersions = kaizen.table(
  'on_demand_view_versions',
  {
    viewName: text('view_name').notNull(),
    version: integer('version').notNull(),
    fingerprint: text('fingerprint').notNull(),
    /** Request fields, feature inputs and output features (name, type), and the code bundle's hash. */
    definition: jsonb('definition').notNull(),
    module: text('module').notNull(),
    bundleSha256: text('bundle_sha256').references(() => codeBundles.sha256),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.viewName, t.version] })],
);

/** Self-contained ES modules by the sha256 of their text: the pinned code of on-demand views. */
export const codeBundles = kaizen.table('code_bundles', {
  sha256: text('sha256').primaryKey(),
  code: text('code').notNull(),
  createdAt: createdAt(),
});

/**
 * Ledger of committed materialization chunks: the exactly-once guard. `source_fingerprint` hashes the
 * source rows the chunk was computed from; when the source changes, the chunk is computed again as
 * revision N+1 (its rows carry materialization id `<chunk_id>` for revision 1, `<chunk_id>#rN` after).
 */
export const materializationChunks = kaizen.table(
  'materialization_chunks',
  {
    chunkId: text('chunk_id').primaryKey(),
    viewName: text('view_name').notNull(),
    version: integer('version').notNull(),
    rangeStart: timestamp('range_start', { withTimezone: true }).notNull(),
    rangeEnd: timestamp('range_end', { withTimezone: true }).notNull(),
    rowsWritten: bigint('rows_written', { mode: 'number' }).notNull(),
    onlineRows: bigint('online_rows', { mode: 'number' }).notNull(),
    rowsQuarantined: bigint('rows_quarantined', { mode: 'number' }).notNull(),
    revision: integer('revision').notNull().default(1),
    /** Null for chunks committed before fingerprints were recorded (treated as changed). */
    sourceFingerprint: text('source_fingerprint'),
    /** Who committed this revision (a workflow run): its retries report the commit as theirs. */
    writtenBy: text('written_by'),
    committedAt: timestamp('committed_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('materialization_chunks_view_idx').on(t.viewName, t.version, t.rangeEnd)],
);

/**
 * Source rows that failed validation, with the reason and where they came from. An entry belongs to
 * the chunk that read the row (rows without a usable time: to `<view>@vN:untimed`), one per position.
 */
export const quarantine = kaizen.table(
  'quarantine',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    viewName: text('view_name').notNull(),
    version: integer('version').notNull(),
    chunkId: text('chunk_id').notNull(),
    source: text('source').notNull(),
    position: bigint('position', { mode: 'number' }).notNull(),
    reason: text('reason').notNull(),
    row: jsonb('row').notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('quarantine_chunk_row_idx').on(t.viewName, t.version, t.chunkId, t.position)],
);

/** Per-version store tables are created at apply time in these schemas (names come from the registry). */
export const offlineStore = pgSchema('kaizen_offline');
export const onlineStore = pgSchema('kaizen_online');

/** Point-in-time training sets: the manifest (spine, feature views with versions, parts, hashes) by id. */
export const trainingSets = kaizen.table('training_sets', {
  id: text('id').primaryKey(),
  path: text('path').notNull(),
  spineSha256: text('spine_sha256').notNull(),
  rowCount: bigint('row_count', { mode: 'number' }).notNull(),
  contentHash: text('content_hash').notNull(),
  manifest: jsonb('manifest').notNull(),
  createdAt: createdAt(),
});

/** Models by name; versions are immutable once registered. */
export const models = kaizen.table('models', {
  name: text('name').primaryKey(),
  latestVersion: integer('latest_version').notNull(),
  /** When set, servers also score the `challenger` off the request path and log both scores. */
  shadowChallenger: boolean('shadow_challenger').notNull().default(false),
  createdAt: createdAt(),
});

/**
 * A trained model: its ONNX artifact (sha256 verified on every load), how it was trained and on
 * what (training set id, pinned features `view@vN:feature`), and its metrics (overall, per slice).
 */
export const modelVersions = kaizen.table(
  'model_versions',
  {
    modelName: text('model_name')
      .notNull()
      .references(() => models.name),
    version: integer('version').notNull(),
    artifactPath: text('artifact_path').notNull(),
    artifactSha256: text('artifact_sha256').notNull(),
    trainer: text('trainer').notNull(),
    params: jsonb('params').notNull(),
    trainingSetId: text('training_set_id')
      .notNull()
      .references(() => trainingSets.id),
    features: jsonb('features').notNull(),
    metrics: jsonb('metrics').notNull(),
    /** The reference profile of its training data and validation scores (monitoring/profile.ts); null until profiled. */
    profile: jsonb('profile'),
    /**
     * Why it was trained: the pipeline definition (name@vN), the as-of time of its data, and what
     * started it (a schedule, monitor alerts with their ids, a person). Null for versions trained by hand.
     */
    lineage: jsonb('lineage'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.modelName, t.version] })],
);

/** `champion` / `challenger` → a version; one row per (model, alias), so never two champions. */
export const modelAliases = kaizen.table(
  'model_aliases',
  {
    modelName: text('model_name')
      .notNull()
      .references(() => models.name),
    alias: text('alias').notNull(),
    version: integer('version').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.modelName, t.alias] }),
    foreignKey({
      name: 'model_aliases_version_fk',
      columns: [t.modelName, t.version],
      foreignColumns: [modelVersions.modelName, modelVersions.version],
    }),
  ],
);

/** Append-only log of every alias change: from, to, who (actor / workflow), why. */
export const modelAliasAudit = kaizen.table(
  'model_alias_audit',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    modelName: text('model_name').notNull(),
    alias: text('alias').notNull(),
    fromVersion: integer('from_version'),
    toVersion: integer('to_version'),
    actor: text('actor').notNull(),
    reason: text('reason').notNull(),
    details: jsonb('details'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('model_alias_audit_model_idx').on(t.modelName, t.id)],
);

/** API keys for serving: only a SHA-256 of the secret is stored; `prefix` identifies a key in logs. */
export const apiKeys = kaizen.table('api_keys', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  prefix: text('prefix').notNull(),
  keyHash: text('key_hash').notNull().unique(),
  scopes: jsonb('scopes').$type<string[]>().notNull(),
  createdAt: createdAt(),
  revokedAt: timestamp('revoked_at', { withTimezone: true }),
});

/**
 * Served (and batch-scored) predictions, written in batches off the request path, with what
 * monitoring needs: the request's entity keys and fields, the time its features were looked up at
 * (`event_ts`), the model's inputs, score and decision, the shadow score, latency and the key that
 * asked. `inputs` holds the numeric inputs in the model's input order (its pinned feature list) as one
 * float8[] (nulls where missing or text), which windows of millions of rows read back columnar;
 * `features` holds the text inputs by column.
 */
export const predictions = kaizen.table(
  'predictions',
  {
    id: text('id').primaryKey(),
    modelName: text('model_name').notNull(),
    version: integer('version').notNull(),
    /** `online` (predict) or `batch` (kaizen score --log). */
    source: text('source').notNull().default('online'),
    /** Entity keys and request fields of the row (null for rows logged before they were kept). */
    entities: jsonb('entities'),
    /** When the row's features were looked up: the request time online, the spine time in batch. */
    eventTs: timestamp('event_ts', { withTimezone: true }),
    score: doublePrecision('score').notNull(),
    /** Score at or above the serving threshold (monitoring/profile.ts DECISION_THRESHOLD). */
    decision: boolean('decision'),
    /** Inputs `inputs` cannot hold (text), by column; null when every input is numeric. */
    features: jsonb('features'),
    inputs: doublePrecision('inputs').array(),
    shadowVersion: integer('shadow_version'),
    shadowScore: doublePrecision('shadow_score'),
    /** Time from the request's arrival to its score. */
    latencyMs: doublePrecision('latency_ms'),
    apiKeyId: text('api_key_id'),
    predictedAt: timestamp('predicted_at', { withTimezone: true }).notNull(),
  },
  (t) => [
    index('predictions_model_idx').on(t.modelName, t.predictedAt),
    index('predictions_model_event_idx').on(t.modelName, t.eventTs),
  ],
);

/**
 * The label of a prediction, once known: fed back by prediction id (`feedback`), or joined from a
 * label source (`labels:<source>`) by the prediction's entity keys and request fields. No foreign
 * key: a label may arrive before its prediction's batch is flushed. Labels fed back by id are never
 * replaced by joined ones.
 */
export const predictionFeedback = kaizen.table(
  'prediction_feedback',
  {
    predictionId: text('prediction_id').primaryKey(),
    label: doublePrecision('label').notNull(),
    recordedAt: timestamp('recorded_at', { withTimezone: true }).notNull().defaultNow(),
    /** `feedback` (by prediction id) or `labels:<label source>`. */
    source: text('source').notNull().default('feedback'),
    /** When the outcome became known: monitors as of an earlier time do not see it. */
    knownAt: timestamp('known_at', { withTimezone: true }).notNull().defaultNow(),
    /**
     * The prediction's model and event time, copied with its label: a monitor window reads its labels
     * by range, not by millions of id lookups. Null on rows written before they were kept (read too).
     */
    modelName: text('model_name'),
    eventTs: timestamp('event_ts', { withTimezone: true }),
  },
  (t) => [
    index('prediction_feedback_window_idx').on(t.modelName, t.eventTs),
    index('prediction_feedback_unplaced_idx')
      .on(t.predictionId)
      .where(sql`${t.modelName} IS NULL`),
  ],
);

/**
 * Versioned definitions as code beyond feature views (label sources, monitor policies): immutable
 * `name@vN` per kind, a new version only when the fingerprint changes.
 */
export const definitions = kaizen.table(
  'definitions',
  {
    kind: text('kind').notNull(),
    name: text('name').notNull(),
    version: integer('version').notNull(),
    fingerprint: text('fingerprint').notNull(),
    definition: jsonb('definition').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.name, t.version] })],
);

/**
 * Outcomes (labels) by the entity keys and request fields they are about (`key`, spelled by
 * monitoring/labels/keys.ts) and the time of the event (`event_ts`). Rows ingested from a label
 * source belong to a chunk of its ledger (`chunk_id`, `position`); rows fed back through the API
 * have origin `feedback`, one per (source, key, event time).
 */
export const labels = kaizen.table(
  'labels',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    sourceName: text('source_name').notNull(),
    sourceVersion: integer('source_version').notNull(),
    /** `source` (ingested from the label source's data) or `feedback` (the API). */
    origin: text('origin').notNull(),
    chunkId: text('chunk_id'),
    position: bigint('position', { mode: 'number' }),
    key: text('key').notNull(),
    eventTs: timestamp('event_ts', { withTimezone: true }).notNull(),
    knownAt: timestamp('known_at', { withTimezone: true }).notNull(),
    label: doublePrecision('label').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('labels_chunk_row_idx').on(t.sourceName, t.sourceVersion, t.chunkId, t.position),
    uniqueIndex('labels_feedback_idx')
      .on(t.sourceName, t.key, t.eventTs)
      .where(sql`origin = 'feedback'`),
    // The label join scans the window's labels by event time and hashes them by key (labels/resolve.ts):
    // no index by key (labels_key_idx, dropped: no plan used it, and it was a third of a chunk's insert).
    index('labels_event_idx').on(t.sourceName, t.eventTs),
  ],
);

/** Ledger of ingested label chunks: the exactly-once guard, as materialization_chunks for views. */
export const labelChunks = kaizen.table('label_chunks', {
  chunkId: text('chunk_id').primaryKey(),
  sourceName: text('source_name').notNull(),
  sourceVersion: integer('source_version').notNull(),
  rangeStart: timestamp('range_start', { withTimezone: true }).notNull(),
  rangeEnd: timestamp('range_end', { withTimezone: true }).notNull(),
  rows: bigint('rows', { mode: 'number' }).notNull(),
  rowsQuarantined: bigint('rows_quarantined', { mode: 'number' }).notNull(),
  sourceFingerprint: text('source_fingerprint').notNull(),
  committedAt: timestamp('committed_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * What the monitor found: one row per (model, version, window, metric, subject). The subject is a
 * model input, `score`, a slice (`<slice>=<value>`), or '' for the whole window. `value` is null
 * where there was no verdict (too few rows); `details` holds the figures behind it.
 */
export const monitorResults = kaizen.table(
  'monitor_results',
  {
    modelName: text('model_name').notNull(),
    version: integer('version').notNull(),
    windowStart: timestamp('window_start', { withTimezone: true }).notNull(),
    windowEnd: timestamp('window_end', { withTimezone: true }).notNull(),
    metric: text('metric').notNull(),
    subject: text('subject').notNull(),
    value: doublePrecision('value'),
    details: jsonb('details'),
    /** Labels known by this time were counted. */
    asOf: timestamp('as_of', { withTimezone: true }).notNull(),
    computedBy: text('computed_by').notNull(),
    computedAt: timestamp('computed_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.modelName, t.version, t.windowStart, t.windowEnd, t.metric, t.subject] }),
    index('monitor_results_window_idx').on(t.modelName, t.windowEnd),
  ],
);

/**
 * Alerts raised by the monitor's policy: what (kind, subject, drift type), which window, which
 * figures. Durable and unique per (model, window, kind, subject); retraining consumes them.
 */
export const monitorAlerts = kaizen.table(
  'monitor_alerts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    modelName: text('model_name').notNull(),
    version: integer('version').notNull(),
    windowStart: timestamp('window_start', { withTimezone: true }).notNull(),
    windowEnd: timestamp('window_end', { withTimezone: true }).notNull(),
    /** `data_drift`, `prediction_drift`, `data_quality`, `performance` or `estimated_performance`. */
    kind: text('kind').notNull(),
    subject: text('subject').notNull(),
    /** `sudden`, `gradual` or `recurring` (drift alerts), else null. */
    driftType: text('drift_type'),
    message: text('message').notNull(),
    figures: jsonb('figures').notNull(),
    policyVersion: integer('policy_version'),
    raisedBy: text('raised_by').notNull(),
    createdAt: createdAt(),
    /** The workflow that acted on it (retraining), once one did. */
    consumedBy: text('consumed_by'),
    consumedAt: timestamp('consumed_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('monitor_alerts_window_idx').on(t.modelName, t.windowStart, t.windowEnd, t.kind, t.subject),
    index('monitor_alerts_model_idx').on(t.modelName, t.id),
  ],
);

/**
 * Retraining runs of continuous training (scheduled, alert-triggered or by hand), one per workflow:
 * what started it, as of when, and how it ended. A run without `finished_at` is in flight (at most one
 * per model starts from alerts); `started_at` of the latest run per model is what cooldowns count from.
 */
export const retrainings = kaizen.table(
  'retrainings',
  {
    workflowId: text('workflow_id').primaryKey(),
    modelName: text('model_name').notNull(),
    /** `schedule`, `alert` or `manual`. */
    trigger: text('trigger').notNull(),
    asOf: timestamp('as_of', { withTimezone: true }).notNull(),
    /** The monitor alerts it answers (alert-triggered runs). */
    alertIds: jsonb('alert_ids').$type<number[]>(),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    /** `promoted`, `rejected`, `conflict`, `failed`; for re-promotion attempts `repromoted` (an earlier version) or `kept`. */
    outcome: text('outcome'),
    /** The version trained (or re-promoted). */
    version: integer('version'),
    details: jsonb('details'),
  },
  (t) => [index('retrainings_model_idx').on(t.modelName, t.startedAt)],
);

/**
 * Erasure requests (`kaizen erase`): who asked, why, and what was removed where. The key itself is
 * not kept: `key_hashes` are SHA-256s of the entity key as each key encoding stores it, enough for
 * materialization to keep erased keys out of rows it writes later (feature-store/erasure).
 */
export const erasures = kaizen.table(
  'erasures',
  {
    id: text('id').primaryKey(),
    entity: text('entity').notNull(),
    keyHashes: text('key_hashes').array().notNull(),
    requestedBy: text('requested_by').notNull(),
    reason: text('reason').notNull(),
    requestedAt: timestamp('requested_at', { withTimezone: true }).notNull().defaultNow(),
    /** Set once every store is clean; null while the erasure runs (or after it failed). */
    completedAt: timestamp('completed_at', { withTimezone: true }),
    /** Rows and files removed per store, training sets rewritten, models trained on the key's data. */
    outcome: jsonb('outcome'),
  },
  (t) => [index('erasures_entity_idx').on(t.entity)],
);

/**
 * Retention purges (`kaizen schedule purge`): per target (`view:<name>@v<n>` or `predictions`), the
 * cutoff rows were purged before and how many went. A view's data fingerprint counts its purges.
 */
export const retentionPurges = kaizen.table(
  'retention_purges',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    target: text('target').notNull(),
    cutoff: timestamp('cutoff', { withTimezone: true }).notNull(),
    rows: bigint('rows', { mode: 'number' }).notNull(),
    purgedBy: text('purged_by').notNull(),
    purgedAt: timestamp('purged_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('retention_purges_target_idx').on(t.target, t.purgedAt)],
);
