import { createMaterializationActivities, type MaterializationDeps } from './materialization.js';

export type ActivityDeps = MaterializationDeps;

/** All activities, built from their dependencies (tests pass real components, no globals). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createMaterializationActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ChunkInput, IncrementalPlan } from './materialization.js';
