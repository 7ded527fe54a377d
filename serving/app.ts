/** Wires the serving components of one server from the configuration and a database connection. */
import type { KaizenConfig } from '../config.js';
import type { Database } from '../db/client.js';
import { createFeatureStore } from '../feature-store/index.js';
import { createApiKeyVerifier } from './api-keys.js';
import type { ServingDeps } from './context.js';
import { createServingMetrics } from './metrics.js';
import { createModelServer } from './model-server.js';
import { registerMonitorGauges } from './monitor-metrics.js';
import { createOnlineFeatures } from './online-features.js';
import { createPredictionLog } from './prediction-log.js';

/** `log` receives the components' operational lines (model swaps, listener reconnects, log failures). */
export function createServingDeps(
  config: KaizenConfig,
  database: Database,
  log?: (line: string) => void,
): ServingDeps {
  const { db, pool } = database;
  const metrics = createServingMetrics();
  registerMonitorGauges(metrics.registry, db);
  // "latest" view versions are re-read at most a second after they change (or at once on a commit).
  const store = createFeatureStore({ db, dataRoot: config.dataRoot, latestTtlMs: 1000 });
  const features = createOnlineFeatures({ store, metrics, log });
  const models = createModelServer({ db, pool, metrics, preload: config.serving.preload, log });
  return {
    db,
    pool,
    keys: createApiKeyVerifier(db),
    features,
    models,
    predictionLog: createPredictionLog({ db, metrics, log }),
    metrics,
    limits: { maxRows: config.serving.maxRows, maxBodyBytes: config.serving.maxBodyBytes },
  };
}

/**
 * Closes what createServingDeps started: the prediction log first (it flushes its backlog and waits
 * for shadow scores, which need loaded models), then models (alias listener, sessions), then the
 * feature cache's listener. The pool stays open for its owner.
 */
export async function closeServingDeps(deps: ServingDeps): Promise<void> {
  await deps.predictionLog.close();
  await deps.models.close();
  await deps.features.close();
}
