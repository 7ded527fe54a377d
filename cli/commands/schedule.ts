import { ScheduleAlreadyRunning } from '@temporalio/client';
import type { KaizenConfig } from '../../config.js';
import { SCHEDULE_IDS, SEARCH_ATTRIBUTE_KEYS, WORKFLOW_IDS } from '../../constants.js';
import { parseDuration } from '../../feature-store/duration.js';
import { getViewVersion } from '../../feature-store/registry.js';
import { scheduledMaterializeWorkflow } from '../../workflows/index.js';
import { withRuntime } from '../runtime-context.js';

/** Creates (or updates) a Temporal Schedule that materializes a view incrementally. */
export async function scheduleMaterializeCommand(
  config: KaizenConfig,
  view: string,
  every: string,
): Promise<string> {
  const intervalMs = parseDuration(every);
  return withRuntime(config, { temporal: true }, async ({ database, temporal }) => {
    await getViewVersion(database.db, view);
    const scheduleId = SCHEDULE_IDS.materialize(view);
    const action = {
      type: 'startWorkflow' as const,
      workflowType: scheduledMaterializeWorkflow,
      workflowId: WORKFLOW_IDS.scheduledMaterialize(view),
      taskQueue: config.taskQueue,
      args: [{ view }] as [{ view: string }],
      typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.featureView, value: view }],
    };
    const spec = { intervals: [{ every: intervalMs }] };
    try {
      await temporal!.schedule.create({ scheduleId, spec, action, memo: { view, every } });
      console.log(`schedule ${scheduleId} created: materialize ${view} every ${every}`);
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      await temporal!.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
      console.log(`schedule ${scheduleId} updated: materialize ${view} every ${every}`);
    }
    return scheduleId;
  });
}
