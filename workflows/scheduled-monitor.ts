import { executeChild, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ACTIVITY_PROFILES, SEARCH_ATTRIBUTE_KEYS, WORKFLOW_IDS } from '../constants.js';
import type { MonitorSummary } from '../monitoring/monitor.js';
import { startAlertResponse } from './alert-response.js';
import { scheduledTimeMs } from './scheduled-time.js';
import { monitorModelWorkflow } from './monitor-model.js';

export interface ScheduledMonitorInput {
  model: string;
  /** Window length in ms. */
  windowMs: number;
  /**
   * The schedule's interval in ms: windows end on its grid, so a window longer than the interval
   * slides (a week's window, monitored daily).
   */
  everyMs: number;
  /** The run's time when it is not the schedule's (a replay simulating one). */
  asOfMs?: number;
}

const { planScheduledMonitor } = proxyActivities<Activities>(ACTIVITY_PROFILES.short);

/**
 * Started by a Temporal Schedule, as of the run's scheduled time: monitors the window that ended the
 * policy's `settle` ago again (its labels have come: its realized performance is judged now; not
 * when the latest window slides over those labels) and the
 * window ending at the last multiple of the schedule's interval — each as a child under the window's
 * own ID (the one a manual `kaizen monitor` of that window has: a repeated trigger attaches or re-runs,
 * never doubles) — then starts one answer to the windows' new alerts. Returns each window's summary,
 * oldest first; the latest carries the answer.
 */
export async function scheduledMonitorWorkflow(input: ScheduledMonitorInput): Promise<MonitorSummary[]> {
  const asOfMs = input.asOfMs ?? scheduledTimeMs();
  const windows = await planScheduledMonitor({ ...input, asOfMs });
  // The windows are independent (the label join serializes on its lock): judged side by side, their
  // new alerts answered once, together.
  const summaries = await Promise.all(
    windows.map(({ startMs, endMs }) =>
      executeChild(monitorModelWorkflow, {
        workflowId: WORKFLOW_IDS.monitor(input.model, startMs, endMs),
        args: [{ model: input.model, startMs, endMs, asOfMs, respond: false }],
        typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }],
        memo: {
          model: input.model,
          window: `${new Date(startMs).toISOString()} .. ${new Date(endMs).toISOString()}`,
        },
      }),
    ),
  );
  const response = await startAlertResponse(input.model, summaries, asOfMs);
  if (response) summaries[summaries.length - 1].response = response;
  return summaries;
}
