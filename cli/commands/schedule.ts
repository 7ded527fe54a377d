import type { KaizenConfig } from '../../config.js';
import { InvalidInputError, parseDuration } from '../../feature-store/index.js';
import {
  controlSchedule,
  listSchedules,
  upsertMaterializeSchedule,
  upsertRetentionSchedule,
  upsertTrainSchedule,
  type ScheduleAction,
} from '../../runtime/schedules.js';
import { findDefinition } from '../../models/definitions.js';
import { ModelNotFoundError } from '../../models/errors.js';
import { cliActor } from './models.js';
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

/** `kaizen schedule train <model> --every <interval>`: the model's registered pipeline, as of each run's time. */
export async function scheduleTrainCommand(
  config: KaizenConfig,
  model: string,
  every: string,
): Promise<string> {
  parseDuration(every);
  return withRuntime(config, { temporal: true }, async ({ database, temporal }) => {
    if (!(await findDefinition(database.db, 'trainingPipeline', model)))
      throw new ModelNotFoundError(
        `${model} has no registered training pipeline: define one with defineTrainingPipeline and kaizen apply`,
      );
    const { scheduleId, created } = await upsertTrainSchedule(temporal!, {
      model,
      every,
      taskQueue: config.taskQueue,
    });
    console.log(
      `schedule ${scheduleId} ${created ? 'created' : 'updated'}: retrain ${model} every ${every}, as of each run's time`,
    );
    return scheduleId;
  });
}

/** `view=180d` options of `kaizen schedule purge`, by view. */
export function parseViewRetention(options: readonly string[]): Record<string, string> {
  const views: Record<string, string> = {};
  for (const option of options) {
    const [view, keep] = option.split('=');
    if (!view || !keep)
      throw new InvalidInputError(
        `invalid --view "${option}": expected <view>=<duration>, e.g. airport_departures=180d`,
      );
    parseDuration(keep);
    views[view.trim()] = keep.trim();
  }
  return views;
}

/** `kaizen schedule purge --every 1d [--view name=180d …] [--predictions 90d]`: the retention schedule. */
export async function schedulePurgeCommand(
  config: KaizenConfig,
  opts: { every: string; view: string[]; predictions?: string },
): Promise<string> {
  parseDuration(opts.every);
  const policy = { views: parseViewRetention(opts.view), predictions: opts.predictions };
  return withRuntime(config, { temporal: true }, async ({ store, temporal }) => {
    for (const view of Object.keys(policy.views)) await store.getView(view); // unknown: a clear error now
    const { scheduleId, created } = await upsertRetentionSchedule(temporal!, {
      every: opts.every,
      policy,
      taskQueue: config.taskQueue,
    });
    const kept = [
      ...Object.entries(policy.views).map(([view, keep]) => `${view}: ${keep}`),
      ...(policy.predictions ? [`prediction log: ${policy.predictions}`] : []),
    ];
    console.log(
      `schedule ${scheduleId} ${created ? 'created' : 'updated'}: every ${opts.every}, keep ${kept.join(', ')}`,
    );
    return scheduleId;
  });
}

/** `kaizen schedule pause|unpause|trigger|delete <schedule-id>`. */
export async function scheduleControlCommand(
  config: KaizenConfig,
  action: ScheduleAction,
  scheduleId: string,
) {
  await withRuntime(config, { temporal: true }, async ({ temporal }) => {
    await controlSchedule(temporal!, scheduleId, action, `${action} by ${cliActor()}`);
    const done = {
      pause: 'paused',
      unpause: 'unpaused',
      trigger: 'triggered (a run as of now)',
      delete: 'deleted',
    }[action];
    console.log(`schedule ${scheduleId}: ${done}`);
  });
}

/** `kaizen schedule list`. */
export async function scheduleListCommand(config: KaizenConfig) {
  await withRuntime(config, { temporal: true }, async ({ temporal }) => {
    const schedules = await listSchedules(temporal!);
    if (schedules.length === 0) return console.log('no schedules');
    const width = Math.max(8, ...schedules.map((s) => s.scheduleId.length));
    console.log(`${'schedule'.padEnd(width)}  ${'workflow'.padEnd(28)}  every      state    next run`);
    for (const s of schedules) {
      const every = s.every === undefined ? '—' : `${Math.round(Number(s.every) / 60_000)}m`;
      console.log(
        `${s.scheduleId.padEnd(width)}  ${String(s.workflowType ?? '—').padEnd(28)}  ${every.padEnd(9)}  ${(s.paused ? 'paused' : 'active').padEnd(7)}  ${s.nextActionTimes[0]?.toISOString() ?? '—'}`,
      );
    }
  });
}
