import { createMaterializationActivities, type MaterializationDeps } from './materialization.js';
import { createModelActivities } from './models.js';
import { createTrainingActivities } from './training.js';
import { createTrainingSetActivities } from './training-set.js';

export type ActivityDeps = MaterializationDeps & {
  /** Where training sets, offline exports and model artifacts are written. */
  artifactsDir: string;
};

/** All activities, built from their dependencies (tests pass real components, no globals). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createMaterializationActivities(deps),
    ...createTrainingSetActivities(deps),
    ...createTrainingActivities(deps),
    ...createModelActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ChunkInput, IncrementalPlan } from './materialization.js';
