import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  executeChild,
  proxyActivities,
  upsertSearchAttributes,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
// The workflow package does not re-export it; @temporalio/common is deterministic (constants.ts uses it too).
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { ACTIVITY_PROFILES, FAILURE_TYPES, SEARCH_ATTRIBUTE_KEYS, WORKFLOW_IDS } from '../constants.js';
import { repromoteWorkflow, type RepromoteResult } from './repromote.js';
import { retrainWorkflow, type RetrainResult } from './retrain.js';

export interface AlertResponseInput {
  model: string;
  alertIds: number[];
  /** The monitor's as-of time: a retraining's data ends here. */
  asOfMs: number;
}

export interface AlertResponseResult {
  model: string;
  reasons: string[];
  repromotion: RepromoteResult | null;
  retraining: RetrainResult | null;
}

const short = proxyActivities<Activities>(ACTIVITY_PROFILES.short);

/** Whether a failure is a lost compare-and-set on the champion (someone promoted meanwhile). */
function lostPromotion(error: unknown): boolean {
  const cause = error instanceof ChildWorkflowFailure ? error.cause : undefined;
  const inner = cause instanceof ActivityFailure ? cause.cause : cause;
  return inner instanceof ApplicationFailure && inner.type === FAILURE_TYPES.aliasConflict;
}

/**
 * What a monitor's alerts start (one response per model at a time): when drift is recurring or the
 * champion decays, first an earlier version evaluated on the alerting window (re-promotion, no
 * training); unless that answered, a retraining as of the monitor's time — if the model's pipeline
 * retrains on these alerts, none is in flight, and the cooldown since the last one has passed. Alerts
 * so answered are marked as acted on by this workflow; the others stay open.
 */
export async function respondToAlertsWorkflow(input: AlertResponseInput): Promise<AlertResponseResult> {
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }]);
  const { workflowId } = workflowInfo();
  const plan = await short.planAlertResponse(input);
  const result: AlertResponseResult = {
    model: input.model,
    reasons: plan.reasons,
    repromotion: null,
    retraining: null,
  };
  if (plan.repromote) {
    try {
      result.repromotion = await executeChild(repromoteWorkflow, {
        workflowId: WORKFLOW_IDS.repromote(input.model, plan.window.startMs, plan.window.endMs),
        args: [{ model: input.model, ...plan.window, asOfMs: input.asOfMs, reason: plan.reasons[0] }],
      });
    } catch (error) {
      if (!lostPromotion(error)) throw error;
      result.reasons.push('re-promotion lost: the champion changed meanwhile');
    }
  }
  if (plan.retrain && !result.repromotion?.promoted) {
    try {
      result.retraining = await executeChild(retrainWorkflow, {
        workflowId: WORKFLOW_IDS.retrain(input.model, input.asOfMs),
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        args: [{ model: input.model, asOfMs: input.asOfMs, trigger: 'alert', alertIds: plan.triggers }],
        typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }],
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      result.reasons.push('a retraining as of this time already ran');
    }
  }
  if (plan.answered) await short.consumeAlerts({ alertIds: input.alertIds, workflowId });
  return result;
}
