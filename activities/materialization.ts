import type { Database } from '../db/client.js';
import { MATERIALIZATION } from '../constants.js';
import { incrementalRange, planChunks, sourceExtent } from '../feature-store/materialization-plan.js';
import { materializeChunk, type ChunkResult } from '../feature-store/materialize-chunk.js';
import { getViewVersion } from '../feature-store/registry.js';
import type { TimeRange } from '../feature-store/types.js';
import { asActivityFailure } from './errors.js';
import { withHeartbeat } from './heartbeat.js';

export interface MaterializationDeps {
  database: Database;
  dataRoot: string;
  /** Test hook: runs inside the chunk transaction just before commit (fault injection). */
  beforeChunkCommit?: (chunkId: string) => void | Promise<void>;
  now?: () => number;
}

export interface ChunkInput extends TimeRange {
  view: string;
  version: number;
  /** Exactly one chunk of a run (the first) also quarantines rows without a usable event time. */
  includeUntimed: boolean;
}

export interface IncrementalPlan {
  view: string;
  version: number;
  chunks: TimeRange[];
}

export function createMaterializationActivities(deps: MaterializationDeps) {
  const { database, dataRoot } = deps;
  return {
    /**
     * One chunk, exactly once. Heartbeats its phase; cancellation aborts it and rolls the transaction
     * back. A retry after a crash resumes at chunk granularity: committed chunks are skipped through
     * the ledger.
     */
    async materializeChunk(input: ChunkInput): Promise<ChunkResult> {
      try {
        return await withHeartbeat(async (report, signal) => {
          const view = await getViewVersion(database.db, input.view, input.version);
          return materializeChunk(
            { pool: database.pool, dataRoot, now: deps.now },
            view,
            { startMs: input.startMs, endMs: input.endMs },
            {
              includeUntimed: input.includeUntimed,
              signal,
              beforeCommit: deps.beforeChunkCommit,
              onProgress: (phase, detail) => report({ phase, ...detail }),
            },
          );
        });
      } catch (error) {
        throw asActivityFailure(error);
      }
    },

    /** For schedules: the complete chunks not yet materialized for the view's latest version. */
    async planIncrementalMaterialization(input: {
      view: string;
      chunkMs?: number;
    }): Promise<IncrementalPlan> {
      try {
        const view = await getViewVersion(database.db, input.view);
        const chunkMs = input.chunkMs ?? MATERIALIZATION.chunkMs;
        const range = await incrementalRange(
          database.db,
          view,
          (deps.now ?? Date.now)(),
          chunkMs,
          async () => {
            return (await sourceExtent(view, { dataRoot, pool: database.pool })).startMs;
          },
        );
        return { view: view.name, version: view.version, chunks: range ? planChunks(range, chunkMs) : [] };
      } catch (error) {
        throw asActivityFailure(error);
      }
    },
  };
}
