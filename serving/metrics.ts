/**
 * Prometheus metrics of one server, in their own registry (tests and several servers in one process
 * never share counters). Components receive this object and record into it; `/metrics` renders it.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createServingMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kaizen_' });
  const registers = [registry];
  const requestDuration = new Histogram({
    name: 'kaizen_request_duration_seconds',
    help: 'tRPC procedure latency by procedure and outcome code',
    labelNames: ['procedure', 'code'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers,
  });
  const requestErrors = new Counter({
    name: 'kaizen_request_errors_total',
    help: 'Failed tRPC calls by procedure and error code',
    labelNames: ['procedure', 'code'] as const,
    registers,
  });
  return {
    registry,
    /** One tRPC call: its latency, and its error code unless OK. */
    observeRequest(procedure: string, code: string, seconds: number): void {
      const labels = { procedure, code };
      requestDuration.observe(labels, seconds);
      if (code !== 'OK') requestErrors.inc(labels);
    },
    /** A request refused before any procedure ran (body too large, unparseable, no such procedure). */
    countRefusedRequest(procedure: string, code: string): void {
      requestErrors.inc({ procedure, code });
    },
    featureCacheLookups: new Counter({
      name: 'kaizen_feature_cache_lookups_total',
      help: 'Online feature cache lookups per entity and view, by result (hit or miss)',
      labelNames: ['result'] as const,
      registers,
    }),
    loadedModel: new Gauge({
      name: 'kaizen_model_loaded_version',
      help: 'Model version loaded per model and alias (absent when none)',
      labelNames: ['model', 'alias'] as const,
      registers,
    }),
    predictionScores: new Histogram({
      name: 'kaizen_prediction_score',
      help: 'Distribution of served scores by model and version',
      labelNames: ['model', 'version'] as const,
      buckets: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95],
      registers,
    }),
    predictionLogBacklog: new Gauge({
      name: 'kaizen_prediction_log_backlog',
      help: 'Predictions waiting to be written to the prediction log',
      registers,
    }),
    predictionLogFailures: new Counter({
      name: 'kaizen_prediction_log_write_failures_total',
      help: 'Predictions that could not be written to the prediction log',
      registers,
    }),
    shadowScoringFailures: new Counter({
      name: 'kaizen_shadow_scoring_failures_total',
      help: 'Predict requests whose shadow challenger could not be scored, by model',
      labelNames: ['model'] as const,
      registers,
    }),
  };
}

export type ServingMetrics = ReturnType<typeof createServingMetrics>;
