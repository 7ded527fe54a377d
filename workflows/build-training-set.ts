import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ACTIVITY_PROFILES } from '../constants.js';
import type { TrainingSetManifest, TrainingSetRequest } from '../feature-store/index.js';

const { planTrainingSet, joinTrainingSetShard, finalizeTrainingSet } = proxyActivities<Activities>(
  ACTIVITY_PROFILES.data,
);

/**
 * Builds a point-in-time-correct training set: plan (pin versions, export), join the spine's shards
 * in parallel (any number of workers), then consolidate into one file with its manifest.
 */
export async function buildTrainingSetWorkflow(request: TrainingSetRequest): Promise<TrainingSetManifest> {
  const plan = await planTrainingSet(request);
  const parts = await Promise.all(
    Array.from({ length: plan.shards }, (_, shard) => joinTrainingSetShard({ plan, shard })),
  );
  return finalizeTrainingSet({ plan, parts: parts.map((p) => p.path) });
}
