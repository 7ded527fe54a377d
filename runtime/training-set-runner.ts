import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { WORKFLOW_IDS } from '../constants.js';
import {
  canonicalJson,
  type TrainingSetManifest,
  type TrainingSetRequest,
} from '../feature-store/requests.js';
import type * as workflows from '../workflows/index.js';
import { resultOf, startOrAttach } from './workflow-runs.js';

/** Started by name: the workflow's module (and the workflow SDK) stay out of the starting process. */
const WORKFLOW = 'buildTrainingSetWorkflow' satisfies keyof typeof workflows;

/**
 * Starts the training-set workflow under an ID derived from the request (the same request attaches
 * to the run in flight) and waits for its manifest.
 */
export async function runTrainingSetBuild(
  deps: { temporal: Client; taskQueue: string },
  request: TrainingSetRequest,
): Promise<{ workflowId: string; manifest: TrainingSetManifest }> {
  const normalized = { ...request, out: path.resolve(request.out) };
  const hash = createHash('sha256').update(canonicalJson(normalized)).digest('hex').slice(0, 16);
  const workflowId = WORKFLOW_IDS.trainingSet(hash);
  const handle = await startOrAttach<typeof workflows.buildTrainingSetWorkflow>(deps.temporal, WORKFLOW, {
    workflowId,
    taskQueue: deps.taskQueue,
    args: [normalized],
    memo: {
      spine: normalized.spine.path,
      features: normalized.features.map((f) => `${f.view}:${f.feature}`),
      out: normalized.out,
    },
  });
  return { workflowId, manifest: await resultOf(handle) };
}
