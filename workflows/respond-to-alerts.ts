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

/** The type of the ApplicationFailure behind a child's failure (its activity's, or its own), if any. */
function failureType(error: unknown): string | undefined {
  const cause = error instanceof ChildWorkflowFailure ? error.cause : undefined;
  const inner = cause instanceof ActivityFailure ? cause.cause : cause;
  return inner instanceof ApplicationFailure ? (inner.type ?? undefined) : undefined;
}

/**
 * Runs a child; the failures a response expects — a lost compare-and-set on the champion, another run
 * of the model in flight, a run of the same ID done already — become reasons instead.
 */
async function tolerated<T>(run: () => Promise<T>, reasons: string[], what: string): Promise<T | null> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) reasons.push(`${what}: done already`);
    else if (failureType(error) === FAILURE_TYPES.aliasConflict)
      reasons.push(`${what} lost: the champion changed meanwhile`);
    else if (failureType(error) === FAILURE_TYPES.runInFlight)
      reasons.push(`${what} not started: another run of the model is in flight`);
    else throw error;
    return null;
  }
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
  if (plan.repromote)
    result.repromotion = await tolerated(
      () =>
        executeChild(repromoteWorkflow, {
          workflowId: WORKFLOW_IDS.repromote(
            input.model,
            plan.window.startMs,
            plan.window.endMs,
            input.asOfMs,
          ),
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
          args: [{ model: input.model, ...plan.window, asOfMs: input.asOfMs, reason: plan.reasons[0] }],
        }),
      result.reasons,
      're-promotion',
    );
  const repromoted = Boolean(result.repromotion?.promoted);
  if (plan.retrain && !repromoted)
    result.retraining = await tolerated(
      () =>
        executeChild(retrainWorkflow, {
          workflowId: WORKFLOW_IDS.retrain(input.model, input.asOfMs),
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
          args: [{ model: input.model, asOfMs: input.asOfMs, trigger: 'alert', alertIds: plan.triggers }],
          typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }],
        }),
      result.reasons,
      'retraining as of this time',
    );
  if (plan.answered || repromoted) await short.consumeAlerts({ alertIds: input.alertIds, workflowId });
  return result;
}
