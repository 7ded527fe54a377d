import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { SCHEDULE_IDS, SEARCH_ATTRIBUTE_KEYS, WORKFLOW_IDS } from '../constants.js';
import { parseDuration } from '../feature-store/index.js';
import {
  scheduledMaterializeWorkflow,
  scheduledMonitorWorkflow,
  type ScheduledMaterializeInput,
  type ScheduledMonitorInput,
} from '../workflows/index.js';

/**
 * Creates, or updates in place, the Temporal Schedule that materializes a view incrementally every
 * `every` (e.g. 1h), revising stale chunks within `lookback` (scheduledMaterializeWorkflow).
 * Overlapping runs are skipped by the schedule's default overlap policy.
 */
export async function upsertMaterializeSchedule(
  client: Client,
  opts: { view: string; every: string; lookback?: string; taskQueue: string },
): Promise<{ scheduleId: string; created: boolean }> {
  const scheduleId = SCHEDULE_IDS.materialize(opts.view);
  // Refused here rather than by every run of the schedule.
  if (opts.lookback !== undefined) parseDuration(opts.lookback);
  const input: ScheduledMaterializeInput = { view: opts.view, lookback: opts.lookback };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: scheduledMaterializeWorkflow,
    workflowId: WORKFLOW_IDS.scheduledMaterialize(opts.view),
    taskQueue: opts.taskQueue,
    args: [input] as [ScheduledMaterializeInput],
    typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.featureView, value: opts.view }],
  };
  const spec = { intervals: [{ every: parseDuration(opts.every) }] };
  try {
    await client.schedule.create({ scheduleId, spec, action, memo: { view: opts.view, every: opts.every } });
    return { scheduleId, created: true };
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
    return { scheduleId, created: false };
  }
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
  const scheduleId = SCHEDULE_IDS.monitor(opts.model);
  const every = parseDuration(opts.every);
  const action = {
    type: 'startWorkflow' as const,
    workflowType: scheduledMonitorWorkflow,
    workflowId: WORKFLOW_IDS.scheduledMonitor(opts.model),
    taskQueue: opts.taskQueue,
    args: [{ model: opts.model, windowMs: parseDuration(opts.window), everyMs: every }] as [
      ScheduledMonitorInput,
    ],
    typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: opts.model }],
  };
  const spec = { intervals: [{ every }] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: every };
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action,
      policies,
      memo: { model: opts.model, every: opts.every, window: opts.window },
    });
    return { scheduleId, created: true };
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule
      .getHandle(scheduleId)
      .update((previous) => ({ ...previous, spec, action, policies }));
    return { scheduleId, created: false };
  }
}
