import type { Database } from '../db/client.js';
import { createFeatureStore, type FeatureStore } from '../feature-store/index.js';
import { createErasureActivities } from './erasure.js';
import { createMaterializationActivities } from './materialization.js';
import { createModelActivities } from './models.js';
import { createMonitoringActivities } from './monitoring.js';
import { createRetrainingActivities } from './retraining.js';
import { createScoringActivities } from './scoring.js';
import { createTrainingActivities } from './training.js';
import { createTrainingSetActivities } from './training-set.js';

export interface ActivityDeps {
  database: Database;
  store: FeatureStore;
  /** Where training sets, offline exports and model artifacts are written. */
  artifactsDir: string;
  /** Test hook: runs inside the chunk transaction just before commit (fault injection). */
  beforeChunkCommit?: (chunkId: string) => void | Promise<void>;
  now?: () => number;
}

/** All activities, built from their dependencies (tests pass real components, no globals). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createMaterializationActivities(deps),
    ...createTrainingSetActivities(deps),
    ...createTrainingActivities(deps),
    ...createModelActivities(deps),
    ...createScoringActivities(deps),
    ...createMonitoringActivities(deps),
    ...createRetrainingActivities(deps),
    ...createErasureActivities(deps),
  };
}

/** A worker's activities: a feature store over `database` and the configured directories. */
export function createWorkerActivities(
  database: Database,
  dirs: { dataRoot: string; artifactsDir: string },
  hooks: Pick<ActivityDeps, 'beforeChunkCommit' | 'now'> = {},
) {
  const store = createFeatureStore({ db: database.db, ...dirs, now: hooks.now });
  return createActivities({ database, store, artifactsDir: dirs.artifactsDir, ...hooks });
}

export type Activities = ReturnType<typeof createActivities>;
export type { ChunkInput, IncrementalPlan } from './materialization.js';
