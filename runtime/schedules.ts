import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import { SCHEDULE_IDS, SEARCH_ATTRIBUTE_KEYS, WORKFLOW_IDS } from '../constants.js';
import { parseDuration } from '../feature-store/index.js';
import { scheduledMaterializeWorkflow } from '../workflows/index.js';

/**
 * Creates, or updates in place, the Temporal Schedule that materializes a view incrementally every
 * `every` (e.g. 1h). Overlapping runs are skipped by the schedule's default overlap policy.
 */
export async function upsertMaterializeSchedule(
  client: Client,
  opts: { view: string; every: string; taskQueue: string },
): Promise<{ scheduleId: string; created: boolean }> {
  const scheduleId = SCHEDULE_IDS.materialize(opts.view);
  const action = {
    type: 'startWorkflow' as const,
    workflowType: scheduledMaterializeWorkflow,
    workflowId: WORKFLOW_IDS.scheduledMaterialize(opts.view),
    taskQueue: opts.taskQueue,
    args: [{ view: opts.view }] as [{ view: string }],
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
