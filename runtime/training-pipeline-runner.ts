import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { WORKFLOW_IDS } from '../constants.js';
import { canonicalJson } from '../feature-store/index.js';
import {
  trainingPipelineWorkflow,
  type TrainingPipelineInput,
  type TrainingPipelineResult,
} from '../workflows/index.js';
import { resultOf, startOrAttach } from './workflow-runs.js';

/**
 * Starts the training pipeline under an ID derived from its input (the same request attaches to the
 * run in flight); `wait: false` returns once started (e.g. to approve it later).
 */
export async function startTrainingPipeline(
  deps: { temporal: Client; taskQueue: string },
  input: TrainingPipelineInput,
) {
  const normalized = {
    ...input,
    trainingSet: { ...input.trainingSet, out: path.resolve(input.trainingSet.out) },
  };
  const hash = createHash('sha256').update(canonicalJson(normalized)).digest('hex').slice(0, 16);
  const workflowId = WORKFLOW_IDS.trainingPipeline(input.model, hash);
  return startOrAttach(deps.temporal, trainingPipelineWorkflow, {
    workflowId,
    taskQueue: deps.taskQueue,
    args: [normalized],
    memo: { model: input.model, trainer: input.trainer.kind, out: normalized.trainingSet.out },
  });
}

export async function runTrainingPipeline(
  deps: { temporal: Client; taskQueue: string },
  input: TrainingPipelineInput,
): Promise<{ workflowId: string; result: TrainingPipelineResult }> {
  const handle = await startTrainingPipeline(deps, input);
  return { workflowId: handle.workflowId, result: await resultOf(handle) };
}
