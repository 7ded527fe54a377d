/**
 * A replay of production, day by day, with Temporal workflows doing the real work: each simulated day
 * the day's events are scored in batch by the current champion and logged; at the day's end, as both
 * schedules would fire then, the monitor runs (scheduledMonitorWorkflow, as of that time) beside the
 * scheduled retraining on retraining days (scheduledTrainWorkflow, as of that time, started first), and
 * the monitor's alerts are answered (re-promotion, retraining, gates, promotion); all of it lands
 * before the next day. Simulated time is the as-of time of every run: a label known later is in no
 * spine, window or re-promotion before then.
 * The features are materialized up front; their point-in-time joins read the rows stamped before each
 * event — as current as the views' own timestamps make them.
 */
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { ScoringSpine } from '../activities/scoring.js';
import { WORKFLOW_IDS } from '../constants.js';
import type { MonitorSummary } from '../monitoring/monitor.js';
import {
  scheduledMonitorWorkflow,
  scheduledTrainWorkflow,
  type AlertResponseResult,
  type RetrainResult,
} from '../workflows/index.js';
import { runBatchScore } from './batch-score-runner.js';
import { resultOf, startOrAttach } from './workflow-runs.js';

export const DAY_MS = 86_400_000;

export interface ReplayOptions {
  model: string;
  /** Simulated days [startMs, endMs), day-aligned. */
  startMs: number;
  endMs: number;
  /** Writes the spine of the day's events to score: the caller's data. */
  daySpine: (dayStartMs: number) => Promise<ScoringSpine>;
  /** Where each day's scores go. */
  scoresDir: string;
  /** The monitor's window; it runs daily (windows slide by a day). */
  windowMs: number;
  /** The scheduled retraining's interval, counted from the start (none when absent). */
  retrainEveryMs?: number;
  onDay?: (day: ReplayDay) => void;
}

export interface ReplayDay {
  dayStartMs: number;
  /** The champion that scored the day. */
  version: number;
  scored: number;
  scoresPath: string;
  /** The windows the day's monitor run judged, oldest first (the latest; before it the settled one, when it is judged again). */
  monitor: MonitorSummary[];
  responses: AlertResponseResult[];
  scheduledRetraining: RetrainResult | null;
  seconds: number;
  /**
   * Where the day's seconds went: scoring (with its spine), the monitor, the alert responses, and the
   * scheduled retraining's own: its start, and its time beyond the monitor and responses it runs beside.
   */
  phases: { score: number; retrain: number; monitor: number; respond: number };
}

/**
 * Returns once the retraining `retrainId` is registered as the model's run in flight (its pipeline,
 * started after that, exists), or the scheduled run that starts it has closed (it ran or did nothing).
 */
async function underWay(temporal: Client, retrainId: string, scheduled: WorkflowHandle): Promise<void> {
  const pipeline = temporal.workflow.getHandle(`${retrainId}:pipeline`);
  for (;;) {
    try {
      await pipeline.describe();
      return;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
    if ((await scheduled.describe()).status.name !== 'RUNNING') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits for the answers the monitor runs started to their alerts (each run once). */
async function responsesOf(temporal: Client, summaries: MonitorSummary[]): Promise<AlertResponseResult[]> {
  const seen = new Set<string>();
  const results: AlertResponseResult[] = [];
  for (const { response } of summaries) {
    if (!response || !('workflowId' in response)) continue;
    const handle = temporal.workflow.getHandle(response.workflowId);
    const { runId } = await handle.describe();
    if (seen.has(runId)) continue;
    seen.add(runId);
    results.push((await resultOf(handle)) as AlertResponseResult);
  }
  return results;
}

export async function runReplay(
  deps: { temporal: Client; taskQueue: string },
  opts: ReplayOptions,
): Promise<ReplayDay[]> {
  const days: ReplayDay[] = [];
  for (let day = opts.startMs; day < opts.endMs; day += DAY_MS) {
    const started = performance.now();
    let mark = started;
    const lap = () => {
      const now = performance.now();
      const seconds = (now - mark) / 1000;
      mark = now;
      return seconds;
    };
    const spine = await opts.daySpine(day);
    const scoresPath = `${opts.scoresDir}/${new Date(day).toISOString().slice(0, 10)}.arrow`;
    const scored = await runBatchScore(deps, {
      model: opts.model,
      spine,
      out: scoresPath,
      log: true,
    });
    const scoreSeconds = lap();
    const asOfMs = day + DAY_MS;
    // A scheduled retraining due now is in flight before the monitor's alerts are answered: the answer
    // finds it there (or, done, within the cooldown) and starts nothing beside it.
    const scheduled =
      opts.retrainEveryMs && (asOfMs - opts.startMs) % opts.retrainEveryMs === 0
        ? await startOrAttach(deps.temporal, scheduledTrainWorkflow, {
            workflowId: `replay:${WORKFLOW_IDS.scheduledTrain(opts.model)}:${new Date(asOfMs).toISOString()}`,
            taskQueue: deps.taskQueue,
            args: [{ model: opts.model, asOfMs }],
          })
        : null;
    if (scheduled) await underWay(deps.temporal, WORKFLOW_IDS.retrain(opts.model, asOfMs), scheduled);
    const startSeconds = lap();
    const monitor: MonitorSummary[] = await resultOf(
      await startOrAttach(deps.temporal, scheduledMonitorWorkflow, {
        workflowId: `replay:${WORKFLOW_IDS.scheduledMonitor(opts.model)}:${new Date(asOfMs).toISOString()}`,
        taskQueue: deps.taskQueue,
        args: [{ model: opts.model, windowMs: opts.windowMs, everyMs: DAY_MS, asOfMs }],
      }),
    );
    const monitorSeconds = lap();
    // The answer to the day's alerts lands before the next day is scored, as it would overnight.
    const responses = await responsesOf(deps.temporal, monitor);
    const respondSeconds = lap();
    const scheduledRetraining: RetrainResult | null = scheduled ? await resultOf(scheduled) : null;
    const retrainSeconds = startSeconds + lap();
    const record: ReplayDay = {
      dayStartMs: day,
      version: scored.result.version,
      scored: scored.result.rows,
      scoresPath,
      monitor,
      responses,
      scheduledRetraining,
      seconds: (performance.now() - started) / 1000,
      phases: {
        score: scoreSeconds,
        retrain: retrainSeconds,
        monitor: monitorSeconds,
        respond: respondSeconds,
      },
    };
    days.push(record);
    opts.onDay?.(record);
  }
  return days;
}
