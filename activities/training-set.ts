import type { Database } from '../db/client.js';
import {
  finalizeTrainingSet,
  joinTrainingSetShard,
  planTrainingSet,
  type TrainingSetManifest,
  type TrainingSetPlan,
  type TrainingSetRequest,
} from '../feature-store/training-set.js';
import { asActivityFailure } from './errors.js';
import { withHeartbeat } from './heartbeat.js';

export interface TrainingSetActivityDeps {
  database: Database;
  dataRoot: string;
  artifactsDir: string;
}

export function createTrainingSetActivities(deps: TrainingSetActivityDeps) {
  const store = {
    db: deps.database.db,
    pool: deps.database.pool,
    dataRoot: deps.dataRoot,
    artifactsDir: deps.artifactsDir,
  };
  const guarded =
    <A, R>(fn: (input: A, report: (p: Record<string, unknown>) => void) => Promise<R>) =>
    async (input: A): Promise<R> => {
      try {
        return await withHeartbeat((report) => fn(input, report));
      } catch (error) {
        throw asActivityFailure(error);
      }
    };
  return {
    /** Validates the request, pins view versions and exports their offline rows (cached by ledger state). */
    planTrainingSet: guarded((request: TrainingSetRequest, report) => {
      report({ phase: 'plan' });
      return planTrainingSet(store, request);
    }),
    /** As-of join of one shard of the spine; writes a part file. Idempotent: a retry rewrites the same part. */
    joinTrainingSetShard: guarded((input: { plan: TrainingSetPlan; shard: number }, report) =>
      joinTrainingSetShard(store, input.plan, input.shard, (rows) =>
        report({ phase: 'join', shard: input.shard, rows }),
      ),
    ),
    /** Consolidates parts, writes splits, records the manifest. */
    finalizeTrainingSet: guarded(
      (input: { plan: TrainingSetPlan; parts: string[] }, report): Promise<TrainingSetManifest> => {
        report({ phase: 'finalize' });
        return finalizeTrainingSet(store, input.plan, input.parts);
      },
    ),
  };
}
