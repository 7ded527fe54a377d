import type { Client } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import type { KaizenConfig } from '../../config.js';
import type { Db } from '../../db/client.js';
import { predictions } from '../../db/schema.js';
import { parseDuration } from '../../feature-store/index.js';
import { findDefinition } from '../../models/definitions.js';
import type { MonitorPolicy } from '../../monitoring/policy.js';
import { windowReports, type WindowReport } from '../../monitoring/report.js';
import { readAlerts, readResults } from '../../monitoring/results.js';
import { planWindows, runMonitorWindow } from '../../runtime/monitor-runner.js';
import { upsertMonitorSchedule } from '../../runtime/schedules.js';
import { withRuntime } from '../runtime-context.js';
import { parseTimeOption } from '../time-option.js';

export interface MonitorOptions {
  window?: string;
  since?: string;
  until?: string;
  asOf?: string;
}

const fixed = (x: number | null, digits = 3) => (x === null ? '—' : x.toFixed(digits));
const pct = (x: number | null) => (x === null ? '—' : `${(100 * x).toFixed(1)}%`);
const sci = (x: number | null) => (x === null ? '—' : x < 1e-3 ? x.toExponential(1) : x.toFixed(3));
const when = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/:00\.000Z$/, 'Z')
    .replace('T', ' ');
const verdict = (value: number | null, yes: string, no: string, type: string | null) =>
  value === null ? 'no verdict' : value === 1 ? `${yes}${type ? ` (${type})` : ''}` : no;

/** One window as a table: performance (whole window, slices), inputs' drift and quality, alerts. */
export function formatWindowReport(model: string, r: WindowReport): string {
  const lines = [
    `window ${when(r.startMs)} .. ${when(r.endMs)} · ${model}@v${r.version} · ${r.rows.toLocaleString('en-US')} predictions, ` +
      `${r.labelled.toLocaleString('en-US')} labelled (${pct(r.rows > 0 ? r.labelled / r.rows : null)}) as of ${when(r.asOfMs)}`,
  ];
  if (r.note) lines.push(`  ${r.note}`);
  if (r.performance.length > 0) {
    const width = Math.max(12, ...r.performance.map((p) => p.subject.length));
    lines.push(
      `  ${'performance'.padEnd(width)}  rows     labelled  AUC    est.AUC  valid.AUC  precision  recall  log loss  verdict`,
    );
    for (const p of r.performance)
      lines.push(
        `  ${(p.subject || '(all)').padEnd(width)}  ${String(p.rows ?? '—').padEnd(7)}  ${String(p.labelled ?? '—').padEnd(8)}  ` +
          `${fixed(p.auc).padEnd(5)}  ${fixed(p.estimatedAuc).padEnd(7)}  ${fixed(p.referenceAuc).padEnd(9)}  ` +
          `${fixed(p.precision).padEnd(9)}  ${fixed(p.recall).padEnd(6)}  ${fixed(p.logLoss).padEnd(8)}  ` +
          `${verdict(p.verdict, 'degraded', 'ok', p.type)}${p.estimatedVerdict === 1 ? ', estimate degraded' : ''}`,
      );
  }
  if (r.drift.length > 0) {
    const width = Math.max(5, ...r.drift.map((d) => d.subject.length));
    lines.push(`  ${'input'.padEnd(width)}  nulls   outside  PSI    KS D/χ²  p        drift`);
    for (const d of r.drift)
      lines.push(
        `  ${d.subject.padEnd(width)}  ${pct(d.nullRate).padEnd(6)}  ${pct(d.outOfRangeRate ?? d.unseenRate).padEnd(7)}  ` +
          `${fixed(d.psi).padEnd(5)}  ${fixed(d.statistic).padEnd(7)}  ${sci(d.pValue).padEnd(7)}  ` +
          `${verdict(d.verdict, 'drift', 'stable', d.type)}${d.quality === 1 ? ', quality' : ''}`,
      );
  }
  if (r.alerts.length > 0) {
    lines.push('  alerts:');
    for (const a of r.alerts) lines.push(`    #${a.id} ${a.kind}: ${a.message}`);
  }
  return lines.join('\n');
}

/** The latest event time of a model's logged predictions (+1 ms: an exclusive end), if any. */
async function lastPredictionEnd(db: Db, model: string): Promise<number | undefined> {
  const [row] = await db
    .select({ last: sql<Date | null>`max(${predictions.eventTs})` })
    .from(predictions)
    .where(sql`${predictions.modelName} = ${model}`);
  return row?.last ? new Date(row.last).getTime() + 1 : undefined;
}

/**
 * Monitors `windows` of a model one after another (one workflow each, as of `asOfMs`) and prints a
 * table per window and version from the stored results.
 */
export async function monitorWindows(
  deps: { db: Db; temporal: Client; taskQueue: string },
  model: string,
  windows: Array<{ startMs: number; endMs: number }>,
  asOfMs: number,
  print: (text: string) => void = console.log,
): Promise<WindowReport[]> {
  const reports: WindowReport[] = [];
  for (const window of windows) {
    const { workflowId } = await runMonitorWindow(deps, { model, ...window, asOfMs });
    const results = await readResults(deps.db, model, window);
    const alerts = await readAlerts(deps.db, model, { ...window, exact: true });
    for (const report of windowReports(results, alerts)) {
      print(`${formatWindowReport(model, report)}\n  (workflow ${workflowId})\n`);
      reports.push(report);
    }
  }
  return reports;
}

/**
 * `kaizen monitor <model>`: monitors each window of `--window` (default: the policy's) from `--since`
 * to `--until` (default: the window that holds the latest logged prediction), as of `--as-of`
 * (default now), one workflow per window, and prints a table per window.
 */
export async function monitorCommand(
  config: KaizenConfig,
  model: string,
  opts: MonitorOptions,
): Promise<WindowReport[]> {
  return withRuntime(config, { temporal: true, worker: true }, async ({ database, temporal }) => {
    const { db } = database;
    const policy = await findDefinition<MonitorPolicy>(db, 'monitorPolicy', model);
    const windowMs = parseDuration(opts.window ?? policy?.definition.window ?? '1d');
    const untilMs = opts.until ? parseTimeOption('--until', opts.until) : await lastPredictionEnd(db, model);
    if (untilMs === undefined)
      throw new Error(
        `model "${model}" has no logged predictions: serve it, or run kaizen score ${model} … --log, then monitor`,
      );
    const sinceMs = opts.since ? parseTimeOption('--since', opts.since) : untilMs - 1;
    const asOfMs = opts.asOf ? parseTimeOption('--as-of', opts.asOf) : Date.now();
    return monitorWindows(
      { db, temporal: temporal!, taskQueue: config.taskQueue },
      model,
      planWindows(sinceMs, untilMs, windowMs),
      asOfMs,
    );
  });
}

/** `kaizen schedule monitor <model> --every 1h [--window 1h]`. */
export async function scheduleMonitorCommand(
  config: KaizenConfig,
  model: string,
  opts: { every: string; window?: string },
): Promise<string> {
  parseDuration(opts.every);
  return withRuntime(config, { temporal: true }, async ({ database, temporal }) => {
    const policy = await findDefinition<MonitorPolicy>(database.db, 'monitorPolicy', model);
    const window = opts.window ?? policy?.definition.window ?? opts.every;
    parseDuration(window);
    const { scheduleId, created } = await upsertMonitorSchedule(temporal!, {
      model,
      every: opts.every,
      window,
      taskQueue: config.taskQueue,
    });
    console.log(
      `schedule ${scheduleId} ${created ? 'created' : 'updated'}: monitor ${model} every ${opts.every} over the last ${window}`,
    );
    return scheduleId;
  });
}
