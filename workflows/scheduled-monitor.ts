import { executeChild, workflowInfo } from '@temporalio/workflow';
import { SEARCH_ATTRIBUTE_KEYS, WORKFLOW_IDS } from '../constants.js';
import type { MonitorSummary } from '../monitoring/monitor.js';
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
}

/**
 * Started by a Temporal Schedule: monitors the model's window that ends at the last multiple of the
 * schedule's interval (since the epoch) before the run's scheduled time, as of that time, as a child with the window's own ID (the one a manual
 * `kaizen monitor` of that window has: a repeated trigger attaches or re-runs, never doubles).
 */
export async function scheduledMonitorWorkflow(input: ScheduledMonitorInput): Promise<MonitorSummary> {
  const info = workflowInfo();
  const scheduled =
    info.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.scheduledStartTime) ?? info.runStartTime;
  const asOfMs = scheduled.getTime();
  const endMs = Math.floor(asOfMs / input.everyMs) * input.everyMs;
  const startMs = endMs - input.windowMs;
  return executeChild(monitorModelWorkflow, {
    workflowId: WORKFLOW_IDS.monitor(input.model, startMs, endMs),
    args: [{ model: input.model, startMs, endMs, asOfMs }],
    typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }],
    memo: {
      model: input.model,
      window: `${new Date(startMs).toISOString()} .. ${new Date(endMs).toISOString()}`,
    },
  });
}
