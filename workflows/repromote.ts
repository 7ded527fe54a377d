import { executeChild, proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { RepromotionOutcome } from '../activities/retraining.js';
import { ACTIVITY_PROFILES, SEARCH_ATTRIBUTE_KEYS } from '../constants.js';
import { buildTrainingSetWorkflow } from './build-training-set.js';

export interface RepromoteInput {
  model: string;
  /** The alerting window: its labelled events are the holdout. */
  startMs: number;
  endMs: number;
  asOfMs: number;
  /** Why it was asked for (e.g. "recurring drift in …"), recorded with a promotion. */
  reason: string;
}

export interface RepromoteResult {
  model: string;
  /** The earlier version now champion, or null when none beat the champion through the gates. */
  promoted: number | null;
  outcome: RepromotionOutcome | null;
}

const short = proxyActivities<Activities>(ACTIVITY_PROFILES.short);
const data = proxyActivities<Activities>(ACTIVITY_PROFILES.data);

const f3 = (x: number) => x.toFixed(3);

/**
 * Brings back a model that already knew this world: the champion and the model's earlier versions
 * evaluated on the alerting window's labelled events (point-in-time features, as any holdout), each
 * earlier one through the pipeline's gates against the champion; the best that beats it is promoted
 * (atomic, compare-and-set on the champion, audited with the window and the figures). No retraining.
 * The attempt is recorded with the model's retrainings (outcome `repromoted` or `kept`): it counts
 * toward the cooldown of alert responses.
 */
export async function repromoteWorkflow(input: RepromoteInput): Promise<RepromoteResult> {
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }]);
  const { workflowId } = workflowInfo();
  const plan = await data.planRepromotion({ ...input, workflowId });
  if (!plan) return { model: input.model, promoted: null, outcome: null };
  try {
    const holdout = await executeChild(buildTrainingSetWorkflow, {
      workflowId: `${workflowId}:holdout`,
      args: [plan.request],
    });
    const outcome = await data.evaluateEarlierVersions({
      model: input.model,
      trainingSetId: holdout.id,
      label: plan.label,
      champion: plan.champion,
      candidates: plan.candidates,
      slices: plan.slices,
      gates: plan.gates,
      minGain: plan.minGain,
    });
    const winner = outcome.winner;
    const aucs = outcome.candidates.map((c) => ({ version: c.version, auc: c.evaluation.overall.auc }));
    if (!winner) {
      await short.finishRetraining({ workflowId, outcome: 'kept', details: { candidates: aucs } });
      return { model: input.model, promoted: null, outcome };
    }
    const window = `${new Date(input.startMs).toISOString()} .. ${new Date(input.endMs).toISOString()}`;
    await short.promoteChampion({
      model: input.model,
      version: winner.version,
      workflowId,
      reason:
        `re-promoted v${winner.version} without retraining: ${input.reason}; on window ${window} ` +
        `(${holdout.rowCount} labelled events) AUC ${f3(winner.evaluation.overall.auc)} vs champion ` +
        `v${plan.champion} ${f3(outcome.championEvaluation!.overall.auc)}`,
      details: {
        window,
        gates: winner.gates.checks,
        candidates: outcome.candidates.map((c) => ({
          version: c.version,
          auc: c.evaluation.overall.auc,
          passed: c.gates.passed,
        })),
      },
      expectedChampion: plan.champion,
    });
    await short.finishRetraining({
      workflowId,
      outcome: 'repromoted',
      version: winner.version,
      details: { candidates: aucs },
    });
    return { model: input.model, promoted: winner.version, outcome };
  } catch (error) {
    await short.finishRetraining({
      workflowId,
      outcome: 'failed',
      details: { error: error instanceof Error ? error.message : String(error) },
    });
    throw error;
  }
}
