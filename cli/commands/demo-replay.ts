/**
 * The demo's continuous-training week: March 1–8, 2001 replayed day by day with the real workflows
 * (runtime/replay.ts) — each day's flights scored by the champion and logged, the monitor's daily
 * run, its alerts answered, the weekly scheduled retraining — then the last window's report and the
 * model's lineage.
 */
import path from 'node:path';
import type { Db } from '../../db/client.js';
import { FLIGHT_SPINE_KEYS, writeFlightsSpine } from '../../examples/flights/training-set.js';
import { parseDuration } from '../../feature-store/index.js';
import { describeModel } from '../../models/catalog.js';
import type { MonitorPolicy } from '../../monitoring/policy.js';
import { windowReports } from '../../monitoring/report.js';
import { readAlerts, readResults } from '../../monitoring/results.js';
import { DAY_MS, runReplay, type ReplayDay } from '../../runtime/replay.js';
import type { RetrainResult } from '../../workflows/index.js';
import { formatModelDetails } from './models.js';
import { formatWindowReport } from './monitor.js';

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const f3 = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x.toFixed(3));

function formatRetraining(label: string, run: RetrainResult): string {
  const { pipeline } = run;
  const e = pipeline.evaluation;
  return (
    `    ${label} as of ${day(run.asOfMs)}: v${pipeline.version} ${pipeline.status} ` +
    `(test AUC ${f3(e.challenger.overall.auc)} vs champion v${e.championVersion} ${f3(e.champion?.overall.auc)}; ` +
    `${run.spineRows.toLocaleString('en-US')} labelled flights) · workflow retrain:${run.model}:${new Date(run.asOfMs).toISOString()}`
  );
}

/** One line per day, then what the day's alerts and schedule started. */
function formatDay(d: ReplayDay): string {
  const latest = d.monitor.at(-1)!;
  const champion = latest.versions.find((v) => v.version === d.version) ?? latest.versions[0];
  const raised = [...new Set(latest.alerts.map((a) => `${a.kind} ${a.subject || '(all)'}`))];
  const lines = [
    `  ${day(d.dayStartMs)}  v${d.version} scored ${d.scored.toLocaleString('en-US')} flights · window ${day(latest.startMs)}..${day(latest.endMs)}: ` +
      `AUC ${f3(champion?.auc)} (validation ${f3(champion?.referenceAuc)}) · ${raised.length} alerts · ${d.seconds.toFixed(1)} s`,
  ];
  for (const r of d.responses) {
    lines.push(`    alert response: ${r.reasons.join('; ')}`);
    if (r.repromotion?.promoted) lines.push(`    re-promoted v${r.repromotion.promoted} (no retraining)`);
    if (r.retraining) lines.push(formatRetraining('alert-triggered retraining', r.retraining));
  }
  if (d.scheduledRetraining) lines.push(formatRetraining('scheduled retraining', d.scheduledRetraining));
  return lines.join('\n');
}

export async function replayDemo(
  deps: { db: Db; temporal: import('@temporalio/client').Client; taskQueue: string },
  opts: {
    model: string;
    policy: MonitorPolicy;
    dataRoot: string;
    artifactsDir: string;
    startMs: number;
    days: number;
  },
): Promise<ReplayDay[]> {
  const dir = path.join(opts.artifactsDir, 'replay');
  const days = await runReplay(deps, {
    model: opts.model,
    startMs: opts.startMs,
    endMs: opts.startMs + opts.days * DAY_MS,
    daySpine: async (dayStartMs) => {
      const file = path.join(dir, `spine-${day(dayStartMs)}.arrow`);
      await writeFlightsSpine(opts.dataRoot, file, { startMs: dayStartMs, endMs: dayStartMs + DAY_MS });
      return { path: file, ...FLIGHT_SPINE_KEYS };
    },
    scoresDir: dir,
    windowMs: parseDuration(opts.policy.window),
    retrainEveryMs: opts.days * DAY_MS,
    onDay: (d) => console.log(formatDay(d)),
  });
  const last = days.at(-1)!.monitor.at(-1)!;
  console.log(`\n  The last window, as \`kaizen monitor ${opts.model}\` prints it:`);
  const window = { startMs: last.startMs, endMs: last.endMs };
  for (const report of windowReports(
    await readResults(deps.db, opts.model, window),
    await readAlerts(deps.db, opts.model, { ...window, exact: true }),
  ))
    console.log(formatWindowReport(opts.model, report).replace(/^/gm, '  '));
  console.log(`\n  kaizen models show ${opts.model}:`);
  console.log(formatModelDetails(await describeModel(deps.db, opts.model)).replace(/^/gm, '  '));
  return days;
}
