import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { executeChild, log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ACTIVITY_PROFILES, materializationVisibility, WORKFLOW_IDS } from '../constants.js';
import { materializeWorkflow, type MaterializeResult } from './materialize.js';

const { planIncrementalMaterialization } = proxyActivities<Activities>(ACTIVITY_PROFILES.short);

export interface ScheduledMaterializeInput {
  view: string;
  /** How far back to look for stale chunks (a duration); default MATERIALIZATION.staleLookback. */
  lookback?: string;
}

/**
 * Started by a Temporal Schedule: materializes the complete chunks since the last committed one and
 * revises the committed chunks within the lookback whose source rows changed (late or corrected
 * rows), in one child. Its ID is the one a manual run of the span from the first planned chunk to the
 * last has: when the planned chunks are contiguous (late rows in the latest chunks, the usual case)
 * that run does the same chunks, so either attaches to the other; otherwise it would also check the
 * chunks in between, which the plan has just found unchanged. A trigger while the child of the same
 * plan is in flight ("trigger now" during a run) is a no-op; a trigger after it finds nothing stale.
 */
export async function scheduledMaterializeWorkflow(
  input: ScheduledMaterializeInput,
): Promise<MaterializeResult | null> {
  const plan = await planIncrementalMaterialization({ view: input.view, lookback: input.lookback });
  if (plan.chunks.length === 0) return null;
  const start = new Date(plan.chunks[0].startMs).toISOString();
  const end = new Date(plan.chunks[plan.chunks.length - 1].endMs).toISOString();
  const workflowId = WORKFLOW_IDS.materialize(plan.view, plan.version, start, end);
  try {
    return await executeChild(materializeWorkflow, {
      workflowId,
      args: [{ view: plan.view, version: plan.version, chunks: plan.chunks }],
      ...materializationVisibility(plan.view, plan.version, start, end, plan.chunks.length),
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    log.info('the same chunks are being materialized already; nothing to do', { workflowId });
    return null;
  }
}
