/** Running an entity erasure (eraseEntityWorkflow) from the CLI and tests, under its deterministic ID. */
import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WORKFLOW_IDS } from '../constants.js';
import { eraseEntityWorkflow, type EraseEntityInput, type EraseEntityResult } from '../workflows/index.js';
import { resultOf, startOrAttach } from './workflow-runs.js';

/** The erasure's workflow ID: a request repeated while one runs attaches to it; a later one runs anew. */
export const erasureWorkflowId = (entity: string, parts: readonly string[]) =>
  WORKFLOW_IDS.erase(
    entity,
    createHash('sha256')
      .update(JSON.stringify([entity, ...parts]))
      .digest('hex'),
  );

export async function runErasure(
  deps: { temporal: Client; taskQueue: string },
  input: EraseEntityInput,
): Promise<{ workflowId: string; result: EraseEntityResult }> {
  const workflowId = erasureWorkflowId(input.entity, input.parts);
  const handle = await startOrAttach(deps.temporal, eraseEntityWorkflow, {
    workflowId,
    taskQueue: deps.taskQueue,
    args: [input],
    memo: { entity: input.entity, requestedBy: input.requestedBy, reason: input.reason },
  });
  return { workflowId, result: await resultOf(handle) };
}
