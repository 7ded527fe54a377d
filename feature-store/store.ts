/**
 * The feature store's one door (as Feast's FeatureStore is its SDK's): a registry, materialization
 * into the offline and online stores, point-in-time training sets and historical lookups, over one
 * Postgres database and a data root. Temporal activities, the tRPC server, the CLI and benchmarks all
 * go through a FeatureStore; nothing here knows about Temporal or HTTP.
 */
import type { Db } from '../db/client.js';
import { parseDuration } from './definitions/duration.js';
import { eraseFromTrainingSets } from './erasure/erase-training-sets.js';
import { eraseFromView, removeExports, versionsKeyedBy, type ViewErasure } from './erasure/erase-views.js';
import { purgeView, type ViewPurge } from './erasure/purge-views.js';
import type { TimeRange } from './definitions/types.js';
import { requestKeys, type EntityKeyValue } from './refs/request-keys.js';
import { materializeChunk, type ChunkHooks } from './materialization/chunk.js';
import { incrementalPlan, sourceExtent } from './materialization/plan.js';
import { chunkStates } from './materialization/staleness.js';
import { exportOffline, readOfflineRows, type OfflineRowFilter } from './offline/export.js';
import { readOnline } from './online/online-store.js';
import { getHistoricalFeatures, type HistoricalRequest } from './point-in-time/historical.js';
import {
  buildTrainingSetInOne,
  finalizeTrainingSet,
  getTrainingSet,
  joinTrainingSetShard,
  planTrainingSet,
  type TrainingSetPlan,
  type TrainingSetRequest,
} from './point-in-time/training-set.js';
import { applyDefinitions, type Definitions } from './registry/apply.js';
import { ViewResolver } from './registry/resolver.js';
import type { ViewVersion } from './registry/types.js';
import { findViewVersion, getViewVersion, listViewVersions } from './registry/views.js';

export interface FeatureStoreOptions {
  /** Drizzle over a pg Pool (db/client.ts connectDatabase); bulk paths use the pool itself. */
  db: Db;
  /** Relative source paths resolve against this directory (KAIZEN_DATA_ROOT). */
  dataRoot: string;
  /** Where offline exports and training sets are written; needed by training sets only. */
  artifactsDir?: string;
  /**
   * How long a "latest" view version stays resolved without a look-up, in ms. 0 (default): every
   * call reads the registry. Servers use a short TTL and forget "latest" on materialization notices.
   */
  latestTtlMs?: number;
  /** The clock of materialization's created_ts and online TTL checks (tests pin it). */
  now?: () => number;
}

export function createFeatureStore(options: FeatureStoreOptions) {
  const { db, dataRoot } = options;
  const pool = db.$client;
  const now = options.now ?? Date.now;
  const resolver = new ViewResolver(db, options.latestTtlMs ?? 0);
  const trainingSets = () => {
    if (!options.artifactsDir)
      throw new Error('this feature store has no artifacts directory for training sets');
    return { db, pool, dataRoot, resolver, artifactsDir: options.artifactsDir };
  };

  return {
    db,
    pool,
    dataRoot,
    /** The resolution cache shared by every ref path of this store. */
    resolver,

    // Registry
    apply: (definitions: Definitions) => applyDefinitions(db, definitions),
    getView: (name: string, version?: number) => getViewVersion(db, name, version),
    findView: (name: string, version?: number) => findViewVersion(db, name, version),
    listViews: () => listViewVersions(db),

    // Materialization
    materializeChunk: (
      view: ViewVersion,
      range: TimeRange,
      hooks?: { includeUntimed?: boolean } & ChunkHooks,
    ) => materializeChunk({ pool, dataRoot, now }, view, range, hooks),
    sourceExtent: (view: ViewVersion) => sourceExtent(view, { dataRoot, pool }),
    /** A schedule's next run: stale chunks within the lookback, then the complete chunks due. */
    incrementalPlan: (view: ViewVersion, opts: { nowMs: number; chunkMs: number; lookbackMs: number }) =>
      incrementalPlan({ db, pool, dataRoot }, view, opts),
    /** Committed chunks and whether their source rows changed since (stale). */
    chunkStates: (view: ViewVersion) => chunkStates({ db, pool, dataRoot }, view),

    // Offline store
    readOfflineRows: (view: ViewVersion, filter?: OfflineRowFilter) => readOfflineRows(pool, view, filter),
    exportOffline: (view: ViewVersion, out: string, range?: { startMs?: number; endMs?: number }) =>
      exportOffline(pool, view, out, range),

    /**
     * The latest stored values of a version for entity rows (`entities`: per entity name, one key per
     * row, as lookups take them), TTL enforced as design §2 says (older rows: status `expired`, values
     * null). `ignoreTtl` reads the stored rows however old (diagnostics).
     */
    readOnline(
      view: ViewVersion,
      entities: Record<string, readonly EntityKeyValue[]>,
      opts: { nowMs?: number; ignoreTtl?: boolean } = {},
    ) {
      const rows = Math.max(0, ...Object.values(entities).map((keys) => keys.length));
      const keys = requestKeys(view, rows, (entity, i) => entities[entity.name]?.[i]);
      const ttlMs = opts.ignoreTtl || !view.definition.ttl ? undefined : parseDuration(view.definition.ttl);
      return readOnline(pool, view.tables.online, view.features, keys, { ttlMs, nowMs: opts.nowMs ?? now() });
    },

    // Point in time
    getHistoricalFeatures: (request: HistoricalRequest) =>
      getHistoricalFeatures({ db, pool, resolver }, request),
    planTrainingSet: (request: TrainingSetRequest) => planTrainingSet(trainingSets(), request),
    joinTrainingSetShard: (plan: TrainingSetPlan, shard: number, onProgress?: (rows: number) => void) =>
      joinTrainingSetShard(trainingSets(), plan, shard, onProgress),
    finalizeTrainingSet: (plan: TrainingSetPlan, parts: string[]) =>
      finalizeTrainingSet(trainingSets(), plan, parts),
    /** One shard: plan, join and finalize in one call, the join in memory (no part file). */
    buildTrainingSetInOne: (
      request: TrainingSetRequest,
      onProgress?: (progress: { phase: 'join' | 'finalize'; rows?: number }) => void,
    ) => buildTrainingSetInOne(trainingSets(), request, onProgress),
    getTrainingSet: (id: string) => getTrainingSet(db, id),

    // Erasure (`erasure.keyHashes`: erasureKeyHashes of the entity's key)
    /** Removes an entity key from every version of every view keyed by its entity. */
    async eraseFromViews(erasure: { id: string; entity: string; keyHashes: readonly string[] }) {
      const hashes = new Set(erasure.keyHashes);
      const results: ViewErasure[] = [];
      for (const view of await versionsKeyedBy(db, erasure.entity))
        results.push(
          await eraseFromView({ pool, artifactsDir: trainingSets().artifactsDir }, view, {
            id: erasure.id,
            hashes,
          }),
        );
      return results;
    },
    /**
     * Removes the cached exports of every view keyed by `entity`: at an erasure's completion, an
     * export that was being written while its rows were deleted goes too.
     */
    async removeExportsKeyedBy(entity: string) {
      let removed = 0;
      for (const view of await versionsKeyedBy(db, entity))
        removed += removeExports(trainingSets().artifactsDir, view);
      return removed;
    },
    /** Purges every version of view `name` of rows with event times before `cutoffMs` (retention). */
    async purgeView(name: string, cutoffMs: number, purgedBy: string) {
      const results: ViewPurge[] = [];
      for (const { version } of (await listViewVersions(db)).filter((v) => v.name === name))
        results.push(
          await purgeView(
            { pool, artifactsDir: trainingSets().artifactsDir },
            await getViewVersion(db, name, version),
            cutoffMs,
            purgedBy,
          ),
        );
      if (results.length === 0) await getViewVersion(db, name); // unknown view: its clear error
      return results;
    },
    /** Rewrites the training sets (created since `createdSince`, if given) without an entity key's rows. */
    eraseFromTrainingSets: (
      erasure: { id: string; entity: string; keyHashes: readonly string[] },
      opts?: { createdSince?: Date },
    ) => eraseFromTrainingSets(db, { ...erasure, hashes: new Set(erasure.keyHashes) }, opts),
  };
}

export type FeatureStore = ReturnType<typeof createFeatureStore>;
