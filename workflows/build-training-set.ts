import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ACTIVITY_PROFILES } from '../constants.js';
import type { TrainingSetManifest, TrainingSetRequest } from '../feature-store/index.js';

const { planTrainingSet, joinTrainingSetShard, finalizeTrainingSet, buildTrainingSetInOne } =
  proxyActivities<Activities>(ACTIVITY_PROFILES.data);

/**
 * Builds a point-in-time-correct training set: plan (pin versions, export), join the spine's shards
 * in parallel (any number of workers), then consolidate into one file with its manifest. With one
 * shard (the default) the three steps are one activity: nothing to run in parallel, and two workflow
 * round trips and a part file less (runs started before this branch replay as they ran).
 */
export async function buildTrainingSetWorkflow(request: TrainingSetRequest): Promise<TrainingSetManifest> {
  if ((request.shards ?? 1) <= 1 && patched('training-set-in-one-activity'))
    return buildTrainingSetInOne(request);
  const plan = await planTrainingSet(request);
  const parts = await Promise.all(
    Array.from({ length: plan.shards }, (_, shard) => joinTrainingSetShard({ plan, shard })),
  );
  return finalizeTrainingSet({ plan, parts: parts.map((p) => p.path) });
}
