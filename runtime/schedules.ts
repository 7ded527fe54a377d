import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import type { RetentionPolicy } from '../activities/erasure.js';
import { SCHEDULE_IDS, SEARCH_ATTRIBUTE_KEYS, WORKFLOW_IDS } from '../constants.js';
import { InvalidInputError, parseDuration } from '../feature-store/index.js';
import {
  scheduledMaterializeWorkflow,
  scheduledMonitorWorkflow,
  scheduledTrainWorkflow,
  retentionWorkflow,
  type ScheduledMaterializeInput,
  type ScheduledMonitorInput,
} from '../workflows/index.js';

/**
 * Creates, or updates in place, the Temporal Schedule that materializes a view incrementally every
 * `every` (e.g. 1h), revising stale chunks within `lookback` (scheduledMaterializeWorkflow).
 * Overlapping runs are skipped; missed ones are caught up within one interval (a run materializes
 * every chunk due by its time, so one catches up many).
 */
export async function upsertMaterializeSchedule(
  client: Client,
  opts: { view: string; every: string; lookback?: string; taskQueue: string },
): Promise<{ scheduleId: string; created: boolean }> {
  const scheduleId = SCHEDULE_IDS.materialize(opts.view);
  // Refused here rather than by every run of the schedule.
  if (opts.lookback !== undefined) parseDuration(opts.lookback);
  const input: ScheduledMaterializeInput = { view: opts.view, lookback: opts.lookback };
  return upsertIntervalSchedule(client, {
    scheduleId,
    everyMs: parseDuration(opts.every),
    workflowType: scheduledMaterializeWorkflow,
    workflowId: WORKFLOW_IDS.scheduledMaterialize(opts.view),
    args: [input],
    taskQueue: opts.taskQueue,
    typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.featureView, value: opts.view }],
    memo: { view: opts.view, every: opts.every },
  });
}

/**
 * Creates, or updates in place, the Temporal Schedule that monitors a model every `every`: each run
 * monitors the `window` ending at the last multiple of `every` before its scheduled time, as of that
 * time (windows longer than `every` slide). Overlapping runs are
 * skipped; runs missed while the scheduler was down are caught up within one interval.
 */
export async function upsertMonitorSchedule(
  client: Client,
  opts: { model: string; every: string; window: string; taskQueue: string },
): Promise<{ scheduleId: string; created: boolean }> {
  const everyMs = parseDuration(opts.every);
  const input: ScheduledMonitorInput = { model: opts.model, windowMs: parseDuration(opts.window), everyMs };
  return upsertIntervalSchedule(client, {
    scheduleId: SCHEDULE_IDS.monitor(opts.model),
    everyMs,
    workflowType: scheduledMonitorWorkflow,
    workflowId: WORKFLOW_IDS.scheduledMonitor(opts.model),
    args: [input],
    taskQueue: opts.taskQueue,
    typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: opts.model }],
    memo: { model: opts.model, every: opts.every, window: opts.window },
  });
}

/**
 * Creates, or updates in place, the Temporal Schedule that retrains a model every `every` with its
 * registered pipeline, each run as of its scheduled time (scheduledTrainWorkflow). Overlapping runs
 * are skipped; runs missed while the scheduler was down are caught up within one interval.
 */
export async function upsertTrainSchedule(
  client: Client,
  opts: { model: string; every: string; taskQueue: string },
): Promise<{ scheduleId: string; created: boolean }> {
  return upsertIntervalSchedule(client, {
    scheduleId: SCHEDULE_IDS.train(opts.model),
    everyMs: parseDuration(opts.every),
    workflowType: scheduledTrainWorkflow,
    workflowId: WORKFLOW_IDS.scheduledTrain(opts.model),
    args: [{ model: opts.model }],
    taskQueue: opts.taskQueue,
    typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: opts.model }],
    memo: { model: opts.model, every: opts.every },
  });
}

/**
 * A schedule starting `workflowType` every `everyMs`: overlapping runs skipped, missed ones caught up
 * within one interval.
 */
async function upsertIntervalSchedule<W extends Workflow>(
  client: Client,
  {
    scheduleId,
    everyMs,
    memo,
    ...start
  }: Omit<ScheduleOptionsStartWorkflowAction<W>, 'type'> & {
    scheduleId: string;
    everyMs: number;
    memo: Record<string, unknown>;
  },
): Promise<{ scheduleId: string; created: boolean }> {
  const spec = { intervals: [{ every: everyMs }] };
  const action = { type: 'startWorkflow' as const, ...start };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: everyMs };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies, memo });
    return { scheduleId, created: true };
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule
      .getHandle(scheduleId)
      .update((previous) => ({ ...previous, spec, action, policies }));
    return { scheduleId, created: false };
  }
}

/**
 * Creates, or updates in place, the Temporal Schedule that applies a retention policy every `every`
 * (retentionWorkflow): each run purges, as of its scheduled time, view rows and prediction log
 * entries older than their retention. Durations are checked here, not by every run.
 */
export async function upsertRetentionSchedule(
  client: Client,
  opts: { every: string; policy: RetentionPolicy; taskQueue: string },
): Promise<{ scheduleId: string; created: boolean }> {
  const durations = [
    ...Object.values(opts.policy.views ?? {}),
    ...(opts.policy.predictions ? [opts.policy.predictions] : []),
  ];
  if (durations.length === 0)
    throw new InvalidInputError(
      'a retention schedule needs --view <name>=<duration> or --predictions <duration>',
    );
  durations.forEach((d) => parseDuration(d));
  return upsertIntervalSchedule(client, {
    scheduleId: SCHEDULE_IDS.retention,
    everyMs: parseDuration(opts.every),
    workflowType: retentionWorkflow,
    workflowId: WORKFLOW_IDS.retention,
    args: [opts.policy],
    taskQueue: opts.taskQueue,
    memo: { every: opts.every, ...opts.policy },
  });
}

export type ScheduleAction = 'pause' | 'unpause' | 'trigger' | 'delete';

/** Pauses, unpauses, triggers now (a run as of now) or deletes a schedule by ID (audited in Temporal with `note`). */
export async function controlSchedule(
  client: Client,
  scheduleId: string,
  action: ScheduleAction,
  note: string,
) {
  const handle = client.schedule.getHandle(scheduleId);
  try {
    if (action === 'pause') await handle.pause(note);
    else if (action === 'unpause') await handle.unpause(note);
    else if (action === 'trigger') await handle.trigger();
    else await handle.delete();
  } catch (error) {
    if (error instanceof ScheduleNotFoundError)
      throw new InvalidInputError(`no schedule "${scheduleId}" (kaizen schedule list shows them)`, {
        cause: error,
      });
    throw error;
  }
}

/** Every schedule: its ID, what it starts, its interval, whether it is paused, its next run. */
export async function listSchedules(client: Client) {
  const schedules = [];
  for await (const s of client.schedule.list())
    schedules.push({
      scheduleId: s.scheduleId,
      workflowType: s.action?.type === 'startWorkflow' ? s.action.workflowType : undefined,
      every: s.spec?.intervals?.[0]?.every,
      paused: s.state.paused,
      note: s.state.note,
      nextActionTimes: s.info.nextActionTimes,
    });
  return schedules.sort((a, b) => (a.scheduleId < b.scheduleId ? -1 : 1));
}
