import { Context } from '@temporalio/activity';
import { MATERIALIZATION } from '../constants.js';
import {
  parseDuration,
  type ChunkResult,
  type FeatureStore,
  type TimeRange,
} from '../feature-store/index.js';
import { asActivityFailure } from './errors.js';
import { withHeartbeat } from './heartbeat.js';

export interface MaterializationDeps {
  store: FeatureStore;
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
  /** Grid chunks in time order: the stale committed ones first, then the ones due. */
  chunks: TimeRange[];
  /** How many of the first `chunks` are committed chunks whose source rows changed (revised). */
  stale: number;
}

export function createMaterializationActivities(deps: MaterializationDeps) {
  const { store } = deps;
  return {
    /**
     * One chunk, exactly once per version of its source rows. Heartbeats its phase; cancellation
     * aborts it and rolls the transaction back. A retry after a crash resumes at chunk granularity:
     * committed chunks whose source is unchanged are skipped through the ledger.
     */
    async materializeChunk(input: ChunkInput): Promise<ChunkResult> {
      try {
        return await withHeartbeat(async (report, signal) => {
          const view = await store.getView(input.view, input.version);
          // A retry of this run that finds its own commit reports it as this run's work.
          const writer = Context.current().info.workflowExecution?.runId;
          return store.materializeChunk(
            view,
            { startMs: input.startMs, endMs: input.endMs },
            {
              includeUntimed: input.includeUntimed,
              writer,
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

    /**
     * For schedules: the complete chunks not yet materialized for the view's latest version, and the
     * committed chunks within `lookback` (a duration, default MATERIALIZATION.staleLookback) before
     * the last committed one's end whose source rows changed since: late or corrected rows.
     */
    async planIncrementalMaterialization(input: {
      view: string;
      chunkMs?: number;
      lookback?: string;
    }): Promise<IncrementalPlan> {
      try {
        const view = await store.getView(input.view);
        const { stale, due } = await store.incrementalPlan(view, {
          nowMs: (deps.now ?? Date.now)(),
          chunkMs: input.chunkMs ?? MATERIALIZATION.chunkMs,
          lookbackMs: parseDuration(input.lookback ?? MATERIALIZATION.staleLookback),
        });
        return { view: view.name, version: view.version, chunks: [...stale, ...due], stale: stale.length };
      } catch (error) {
        throw asActivityFailure(error);
      }
    },
  };
}
