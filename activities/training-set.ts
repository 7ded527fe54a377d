import type {
  FeatureStore,
  TrainingSetManifest,
  TrainingSetPlan,
  TrainingSetRequest,
} from '../feature-store/index.js';
import { heartbeatingActivity } from './heartbeat.js';

export function createTrainingSetActivities(deps: { store: FeatureStore }) {
  const { store } = deps;
  return {
    /** Validates the request, pins view versions and exports their offline rows (cached by ledger state). */
    planTrainingSet: heartbeatingActivity((request: TrainingSetRequest, report) => {
      report({ phase: 'plan' });
      return store.planTrainingSet(request);
    }),
    /** As-of join of one shard of the spine; writes a part file. Idempotent: a retry rewrites the same part. */
    joinTrainingSetShard: heartbeatingActivity((input: { plan: TrainingSetPlan; shard: number }, report) =>
      store.joinTrainingSetShard(input.plan, input.shard, (rows) =>
        report({ phase: 'join', shard: input.shard, rows }),
      ),
    ),
    /**
     * One shard (the default): plan, join in memory and finalize in one activity — the same training
     * set, without the round trips of three activities and without a part file.
     */
    buildTrainingSetInOne: heartbeatingActivity((request: TrainingSetRequest, report) => {
      report({ phase: 'plan' });
      return store.buildTrainingSetInOne(request, report);
    }),
    /** Consolidates parts, writes splits, records the manifest. */
    finalizeTrainingSet: heartbeatingActivity(
      (input: { plan: TrainingSetPlan; parts: string[] }, report): Promise<TrainingSetManifest> => {
        report({ phase: 'finalize' });
        return store.finalizeTrainingSet(input.plan, input.parts);
      },
    ),
  };
}
