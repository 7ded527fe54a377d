import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { WORKFLOW_IDS } from '../constants.js';
import { canonicalJson } from '../feature-store/index.js';
import {
  batchScoreProgressQuery,
  batchScoreWorkflow,
  type BatchScoreInput,
  type BatchScoreProgress,
  type BatchScoreResult,
} from '../workflows/index.js';
import { resultOf, startOrAttach } from './workflow-runs.js';

/**
 * Runs batch scoring under an ID derived from the normalized request (paths absolute, defaults
 * explicit: the same request attaches to the run in flight) and waits for its result.
 */
export async function runBatchScore(
  deps: { temporal: Client; taskQueue: string },
  input: BatchScoreInput,
  onProgress?: (progress: BatchScoreProgress) => void,
): Promise<{ workflowId: string; result: BatchScoreResult }> {
  const normalized: BatchScoreInput = {
    ...input,
    ref: input.ref ?? 'champion',
    spine: { ...input.spine, path: path.resolve(input.spine.path) },
    out: path.resolve(input.out),
    log: input.log ?? false,
    shards: input.shards ?? 1,
  };
  const hash = createHash('sha256').update(canonicalJson(normalized)).digest('hex').slice(0, 16);
  const workflowId = WORKFLOW_IDS.batchScore(input.model, hash);
  const handle = await startOrAttach(deps.temporal, batchScoreWorkflow, {
    workflowId,
    taskQueue: deps.taskQueue,
    args: [normalized],
    memo: {
      model: input.model,
      ref: normalized.ref,
      spine: normalized.spine.path,
      out: normalized.out,
      log: normalized.log,
    },
  });
  const poll = onProgress
    ? setInterval(() => {
        handle
          .query(batchScoreProgressQuery)
          .then(onProgress)
          .catch(() => undefined);
      }, 500)
    : undefined;
  try {
    return { workflowId, result: await resultOf(handle) };
  } finally {
    clearInterval(poll);
  }
}
