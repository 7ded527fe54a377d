import { executeChild, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ACTIVITY_PROFILES, materializationVisibility, WORKFLOW_IDS } from '../constants.js';
import { materializeWorkflow, type MaterializeResult } from './materialize.js';

const { planIncrementalMaterialization } = proxyActivities<Activities>(ACTIVITY_PROFILES.short);

/**
 * Started by a Temporal Schedule: materializes the complete chunks since the last committed one, as a
 * child with the same deterministic ID a manual run of that range would have.
 */
export async function scheduledMaterializeWorkflow(input: {
  view: string;
}): Promise<MaterializeResult | null> {
  const plan = await planIncrementalMaterialization({ view: input.view });
  if (plan.chunks.length === 0) return null;
  const start = new Date(plan.chunks[0].startMs).toISOString();
  const end = new Date(plan.chunks[plan.chunks.length - 1].endMs).toISOString();
  return executeChild(materializeWorkflow, {
    workflowId: WORKFLOW_IDS.materialize(plan.view, plan.version, start, end),
    args: [{ view: plan.view, version: plan.version, chunks: plan.chunks }],
    ...materializationVisibility(plan.view, plan.version, start, end, plan.chunks.length),
  });
}
