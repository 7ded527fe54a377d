import { executeChild, WorkflowIdReusePolicy, workflowInfo } from '@temporalio/workflow';
// The workflow package does not re-export it; @temporalio/common is deterministic (constants.ts uses it too).
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { SEARCH_ATTRIBUTE_KEYS, WORKFLOW_IDS } from '../constants.js';
import { retrainWorkflow, type RetrainResult } from './retrain.js';

/**
 * Started by a Temporal Schedule: retrains the model as of the run's scheduled time, as a child whose
 * ID is derived from that time — a repeated trigger of the same time finds it started and does nothing.
 */
export async function scheduledTrainWorkflow(input: {
  model: string;
  /** The run's time when it is not the schedule's (a replay simulating one). */
  asOfMs?: number;
}): Promise<RetrainResult | null> {
  const info = workflowInfo();
  const scheduled =
    info.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.scheduledStartTime) ?? info.runStartTime;
  const asOfMs = input.asOfMs ?? scheduled.getTime();
  try {
    return await executeChild(retrainWorkflow, {
      workflowId: WORKFLOW_IDS.retrain(input.model, asOfMs),
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      args: [{ model: input.model, asOfMs, trigger: 'schedule' }],
      typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }],
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return null;
    throw error;
  }
}
