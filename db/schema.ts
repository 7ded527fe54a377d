/** Registry tables: the single source of truth; migrations in migrations/ are generated from this. */
import {
  bigint,
  bigserial,
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
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.viewName, t.version] })],
);

/** Ledger of committed materialization chunks: the exactly-once guard. */
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
    committedAt: timestamp('committed_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('materialization_chunks_view_idx').on(t.viewName, t.version, t.rangeEnd)],
);

/** Source rows that failed validation, with the reason and where they came from. */
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
  (t) => [uniqueIndex('quarantine_row_idx').on(t.viewName, t.version, t.source, t.position)],
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
