import { WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_KEYS, WORKFLOW_IDS } from '../constants.js';
import { retrainWorkflow, type RetrainInput } from '../workflows/index.js';
import { startOrAttach } from './workflow-runs.js';

/**
 * Starts a run of a model's registered training pipeline as of a time, under the ID that time gives
 * it: the same request attaches to that run, in flight or done; only a failed run is run again.
 */
export function startRetrain(deps: { temporal: Client; taskQueue: string }, input: RetrainInput) {
  return startOrAttach(deps.temporal, retrainWorkflow, {
    workflowId: WORKFLOW_IDS.retrain(input.model, input.asOfMs),
    taskQueue: deps.taskQueue,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    args: [input],
    typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }],
    memo: { model: input.model, asOf: new Date(input.asOfMs).toISOString(), trigger: input.trigger },
  });
}
