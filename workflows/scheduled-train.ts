import { executeChild, WorkflowIdReusePolicy } from '@temporalio/workflow';
// The workflow package does not re-export it; @temporalio/common is deterministic (constants.ts uses it too).
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { SEARCH_ATTRIBUTE_KEYS, WORKFLOW_IDS } from '../constants.js';
import { retrainWorkflow, type RetrainResult } from './retrain.js';
import { scheduledTimeMs } from './scheduled-time.js';

/**
 * Started by a Temporal Schedule: retrains the model as of the run's scheduled time, as a child whose
 * ID is derived from that time — a repeated trigger of the same time finds it started (or done) and
 * does nothing; only a failed run is run again.
 */
export async function scheduledTrainWorkflow(input: {
  model: string;
  /** The run's time when it is not the schedule's (a replay simulating one). */
  asOfMs?: number;
}): Promise<RetrainResult | null> {
  const asOfMs = input.asOfMs ?? scheduledTimeMs();
  try {
    return await executeChild(retrainWorkflow, {
      workflowId: WORKFLOW_IDS.retrain(input.model, asOfMs),
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      args: [{ model: input.model, asOfMs, trigger: 'schedule' }],
      typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }],
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return null;
    throw error;
  }
}
