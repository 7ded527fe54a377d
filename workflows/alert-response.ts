/**
 * Starting the answer to a model's new monitor alerts, shared by the monitor workflows (not a
 * workflow itself). The answer outlives its starter; one per model at a time: alerts that arrive
 * while one runs are left for the next window.
 */
import { ParentClosePolicy, startChild } from '@temporalio/workflow';
// The workflow package does not re-export it; @temporalio/common is deterministic (constants.ts uses it too).
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { SEARCH_ATTRIBUTE_KEYS, WORKFLOW_IDS } from '../constants.js';
import type { MonitorSummary } from '../monitoring/monitor.js';
import { respondToAlertsWorkflow } from './respond-to-alerts.js';

/** Starts respondToAlertsWorkflow for the windows' alerts no workflow acted on yet, if any. */
export async function startAlertResponse(
  model: string,
  summaries: MonitorSummary[],
  asOfMs: number,
): Promise<MonitorSummary['response']> {
  const fresh = summaries.flatMap((s) => s.alerts.filter((a) => a.consumedBy === null).map((a) => a.id));
  if (fresh.length === 0) return undefined;
  const workflowId = WORKFLOW_IDS.alertResponse(model);
  try {
    await startChild(respondToAlertsWorkflow, {
      workflowId,
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [{ model, alertIds: fresh, asOfMs }],
      typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: model }],
    });
    return { workflowId };
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    return { busy: workflowId };
  }
}
