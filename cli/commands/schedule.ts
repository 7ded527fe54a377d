import type { KaizenConfig } from '../../config.js';
import { parseDuration } from '../../feature-store/index.js';
import { upsertMaterializeSchedule } from '../../runtime/schedules.js';
import { withRuntime } from '../runtime-context.js';

/** `kaizen schedule materialize <view> --every <interval>`. */
export async function scheduleMaterializeCommand(
  config: KaizenConfig,
  view: string,
  every: string,
): Promise<string> {
  parseDuration(every);
  return withRuntime(config, { temporal: true }, async ({ store, temporal }) => {
    await store.getView(view);
    const { scheduleId, created } = await upsertMaterializeSchedule(temporal!, {
      view,
      every,
      taskQueue: config.taskQueue,
    });
    console.log(
      `schedule ${scheduleId} ${created ? 'created' : 'updated'}: materialize ${view} every ${every}`,
    );
    return scheduleId;
  });
}
