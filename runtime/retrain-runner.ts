import type { Client } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_KEYS, WORKFLOW_IDS } from '../constants.js';
import { retrainWorkflow, type RetrainInput } from '../workflows/index.js';
import { startOrAttach } from './workflow-runs.js';

/**
 * Starts a run of a model's registered training pipeline as of a time, under the ID that time gives
 * it (the same request attaches to the run in flight).
 */
export function startRetrain(deps: { temporal: Client; taskQueue: string }, input: RetrainInput) {
  return startOrAttach(deps.temporal, retrainWorkflow, {
    workflowId: WORKFLOW_IDS.retrain(input.model, input.asOfMs),
    taskQueue: deps.taskQueue,
    args: [input],
    typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }],
    memo: { model: input.model, asOf: new Date(input.asOfMs).toISOString(), trigger: input.trigger },
  });
}
