import { Context } from '@temporalio/activity';
import { MATERIALIZATION } from '../constants.js';
import { planChunks, type ChunkResult, type FeatureStore, type TimeRange } from '../feature-store/index.js';
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
  chunks: TimeRange[];
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

    /** For schedules: the complete chunks not yet materialized for the view's latest version. */
    async planIncrementalMaterialization(input: {
      view: string;
      chunkMs?: number;
    }): Promise<IncrementalPlan> {
      try {
        const view = await store.getView(input.view);
        const chunkMs = input.chunkMs ?? MATERIALIZATION.chunkMs;
        const range = await store.incrementalRange(view, (deps.now ?? Date.now)(), chunkMs);
        return { view: view.name, version: view.version, chunks: range ? planChunks(range, chunkMs) : [] };
      } catch (error) {
        throw asActivityFailure(error);
      }
    },
  };
}
