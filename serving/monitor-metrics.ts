/**
 * The monitor's latest findings as Prometheus gauges on `/metrics`, read from Postgres at each scrape:
 * for each model, the figures of its latest monitored window (drift, quality, performance, coverage),
 * the end of that window, and its alerts by kind. Whatever server is scraped reports the same values.
 */
import { sql } from 'drizzle-orm';
import { Gauge, type Registry } from 'prom-client';
import type { Db } from '../db/client.js';

/** Metrics exported per subject; the rest stay in the results table. */
const EXPORTED = [
  'rows',
  'labelled',
  'label_coverage',
  'psi',
  'ks_statistic',
  'p_value',
  'null_rate',
  'auc',
  'estimated_auc',
  'precision',
  'recall',
  'data_drift',
  'prediction_drift',
  'data_quality',
  'performance',
  'estimated_performance',
];

export function registerMonitorGauges(registry: Registry, db: Db): void {
  const registers = [registry];
  new Gauge({
    name: 'kaizen_monitor_value',
    help: "Figures of each model's latest monitored window by version, metric and subject (input, score, slice or '')",
    labelNames: ['model', 'version', 'metric', 'subject'] as const,
    registers,
    async collect() {
      const { rows } = await db.$client.query<{
        model: string;
        version: number;
        metric: string;
        subject: string;
        value: number;
      }>(
        `SELECT r.model_name AS model, r.version, r.metric, r.subject, r.value
         FROM kaizen.monitor_results r
         JOIN (SELECT model_name, max(window_end) AS window_end FROM kaizen.monitor_results GROUP BY model_name) latest
           USING (model_name, window_end)
         WHERE r.value IS NOT NULL AND r.metric = ANY($1)`,
        [EXPORTED],
      );
      this.reset();
      for (const r of rows)
        this.set(
          { model: r.model, version: String(r.version), metric: r.metric, subject: r.subject },
          r.value,
        );
    },
  });
  new Gauge({
    name: 'kaizen_monitor_window_end_seconds',
    help: "End of each model's latest monitored window (Unix time)",
    labelNames: ['model'] as const,
    registers,
    async collect() {
      const rows = await db.execute<{ model: string; end: number }>(
        sql`SELECT model_name AS model, extract(epoch FROM max(window_end))::float8 AS end FROM kaizen.monitor_results GROUP BY model_name`,
      );
      this.reset();
      for (const r of rows.rows) this.set({ model: r.model }, r.end);
    },
  });
  new Gauge({
    name: 'kaizen_monitor_alerts',
    help: 'Monitor alerts raised per model and kind, and not yet acted on',
    labelNames: ['model', 'kind'] as const,
    registers,
    async collect() {
      const rows = await db.execute<{ model: string; kind: string; n: number }>(
        sql`SELECT model_name AS model, kind, count(*)::int AS n FROM kaizen.monitor_alerts WHERE consumed_by IS NULL GROUP BY model_name, kind`,
      );
      this.reset();
      for (const r of rows.rows) this.set({ model: r.model, kind: r.kind }, r.n);
    },
  });
}
