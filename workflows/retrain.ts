import {
  ApplicationFailure,
  defineQuery,
  executeChild,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { RetrainingTrigger } from '../activities/retraining.js';
import { ACTIVITY_PROFILES, SEARCH_ATTRIBUTE_KEYS } from '../constants.js';
import { trainingPipelineWorkflow, type TrainingPipelineResult } from './training-pipeline.js';

export interface RetrainInput {
  model: string;
  /** The run's data ends here: its spine holds the events known by then, its split ends here. */
  asOfMs: number;
  trigger: RetrainingTrigger;
  /** Monitor alerts that started it, recorded in the new version's lineage. */
  alertIds?: number[];
}

export interface RetrainResult {
  model: string;
  asOfMs: number;
  trigger: RetrainingTrigger;
  pipelineVersion: number;
  spineRows: number;
  pipeline: TrainingPipelineResult;
}

export const retrainStageQuery = defineQuery<string>('stage');

const short = proxyActivities<Activities>(ACTIVITY_PROFILES.short);
const data = proxyActivities<Activities>(ACTIVITY_PROFILES.data);

/**
 * Continuous training: the model's registered training pipeline run as of a time — its spine built
 * from the label source (the events whose label was known by then), its split relative to that time —
 * as a child training pipeline; the run and its outcome recorded (retrainings), the trigger in the new
 * version's lineage.
 */
export async function retrainWorkflow(input: RetrainInput): Promise<RetrainResult> {
  if (!Number.isFinite(input.asOfMs))
    throw ApplicationFailure.nonRetryable(
      `invalid retraining as of ${input.asOfMs}: expected epoch ms`,
      'INVALID_INPUT',
    );
  let stage = 'plan';
  setHandler(retrainStageQuery, () => stage);
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }]);
  const { workflowId } = workflowInfo();
  try {
    // Inside: a plan that fails (no labelled events, another run in flight) is recorded as failed too.
    const plan = await data.planRetraining({ ...input, workflowId });
    stage = 'training pipeline';
    const pipeline = await executeChild(trainingPipelineWorkflow, {
      workflowId: `${workflowId}:pipeline`,
      args: [plan.input],
      typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }],
    });
    stage = pipeline.status;
    await short.finishRetraining({
      workflowId,
      outcome: pipeline.status,
      version: pipeline.version,
      details: { reasons: pipeline.reasons, spineRows: plan.spineRows, notYetKnown: plan.notYetKnown },
    });
    return {
      model: input.model,
      asOfMs: input.asOfMs,
      trigger: input.trigger,
      pipelineVersion: plan.pipelineVersion,
      spineRows: plan.spineRows,
      pipeline,
    };
  } catch (error) {
    stage = 'failed';
    await short.finishRetraining({
      workflowId,
      outcome: 'failed',
      details: { error: error instanceof Error ? error.message : String(error) },
    });
    throw error;
  }
}
