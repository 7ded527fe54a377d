import { proxyActivities, setHandler, defineQuery, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ErasureOutcome, ErasureRequest } from '../activities/erasure.js';
import { ACTIVITY_PROFILES } from '../constants.js';

export const erasureStageQuery = defineQuery<string>('stage');

const short = proxyActivities<Activities>(ACTIVITY_PROFILES.short);
const data = proxyActivities<Activities>(ACTIVITY_PROFILES.data);

export type EraseEntityInput = Omit<ErasureRequest, 'id'>;

export interface EraseEntityResult extends ErasureOutcome {
  id: string;
}

/**
 * Erases an entity key everywhere Kaizen keeps it: the request is recorded (audit), then the key is
 * removed from the offline and online stores of every view keyed by its entity, from stored training
 * sets (rewritten, hashes and lineage updated), from the prediction log and labels; the outcome is
 * recorded, completing the erasure, and training sets recorded while it ran are checked once more.
 */
export async function eraseEntityWorkflow(input: EraseEntityInput): Promise<EraseEntityResult> {
  let stage = 'record the request';
  setHandler(erasureStageQuery, () => stage);
  const { workflowId, runId } = workflowInfo();
  const target = await short.startErasure({ ...input, id: `${workflowId}@${runId}` });
  stage = 'views';
  const views = await data.eraseFromViews(target);
  stage = 'training sets';
  const trainingSets = await data.eraseFromTrainingSets({ target });
  stage = 'prediction log and labels';
  const logs = await data.eraseFromLogs({ target, parts: input.parts });
  stage = 'complete';
  let outcome = await short.finishErasure({ id: target.id, outcome: { views, trainingSets, ...logs } });
  // Builds that planned before completion read exports made before it: recorded since the request,
  // they are checked again (after completion, exports are made anew without the key).
  const late = await data.eraseFromTrainingSets({ target, since: target.requestedAt });
  if (late.length > 0)
    outcome = await short.finishErasure({
      id: target.id,
      outcome: { views, trainingSets: late, ...logs },
      amend: true,
    });
  stage = 'done';
  return { id: target.id, ...outcome };
}
