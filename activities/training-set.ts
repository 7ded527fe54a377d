import type { Database } from '../db/client.js';
import {
  finalizeTrainingSet,
  joinTrainingSetShard,
  planTrainingSet,
  type TrainingSetManifest,
  type TrainingSetPlan,
  type TrainingSetRequest,
} from '../feature-store/training-set.js';
import { heartbeatingActivity } from './heartbeat.js';

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
  return {
    /** Validates the request, pins view versions and exports their offline rows (cached by ledger state). */
    planTrainingSet: heartbeatingActivity((request: TrainingSetRequest, report) => {
      report({ phase: 'plan' });
      return planTrainingSet(store, request);
    }),
    /** As-of join of one shard of the spine; writes a part file. Idempotent: a retry rewrites the same part. */
    joinTrainingSetShard: heartbeatingActivity((input: { plan: TrainingSetPlan; shard: number }, report) =>
      joinTrainingSetShard(store, input.plan, input.shard, (rows) =>
        report({ phase: 'join', shard: input.shard, rows }),
      ),
    ),
    /** Consolidates parts, writes splits, records the manifest. */
    finalizeTrainingSet: heartbeatingActivity(
      (input: { plan: TrainingSetPlan; parts: string[] }, report): Promise<TrainingSetManifest> => {
        report({ phase: 'finalize' });
        return finalizeTrainingSet(store, input.plan, input.parts);
      },
    ),
  };
}
