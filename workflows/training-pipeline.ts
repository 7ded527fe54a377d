import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  executeChild,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { EvaluationOutcome, TrainedArtifact } from '../activities/models.js';
import { ACTIVITY_PROFILES, FAILURE_TYPES, SEARCH_ATTRIBUTE_KEYS, TASK_QUEUES } from '../constants.js';
import type { TrainingPipelineInput } from '../training/pipeline-input.js';
import { buildTrainingSetWorkflow } from './build-training-set.js';

export type { TrainerChoice, TrainingPipelineInput } from '../training/pipeline-input.js';

export interface ApprovalDecision {
  approved: boolean;
  by: string;
  reason?: string;
}

export interface TrainingPipelineResult {
  model: string;
  version: number;
  trainingSetId: string;
  /**
   * `conflict`: the gates passed but the champion changed while the challenger was evaluated against
   * another one (the promotion's compare-and-set lost); nothing was switched.
   */
  status: 'promoted' | 'rejected' | 'conflict';
  reasons: string[];
  evaluation: EvaluationOutcome;
}

/** The message of a lost compare-and-set on the champion, when that is why an activity failed. */
function aliasConflict(error: unknown): string | undefined {
  const cause = error instanceof ActivityFailure ? error.cause : undefined;
  return cause instanceof ApplicationFailure && cause.type === FAILURE_TYPES.aliasConflict
    ? cause.message
    : undefined;
}

/**
 * Refuses input that cannot succeed before any work, with a readable, non-retryable failure (a
 * missing split used to surface as a TypeError deep in the run, retried forever).
 */
function assertPipelineInput(input: TrainingPipelineInput): void {
  const problems: string[] = [];
  if (typeof input.model !== 'string' || !/^[a-z][a-z0-9_-]*$/.test(input.model))
    problems.push(`model ${JSON.stringify(input.model)}: lowercase letters, digits, _ and -`);
  if (typeof input.label !== 'string' || input.label === '') problems.push('no label column');
  const split = input.trainingSet?.split;
  if (!split || !Number.isFinite(split.trainEndMs) || !Number.isFinite(split.validEndMs))
    problems.push(
      'the training set needs a time split (train / validation for training, test as the holdout)',
    );
  else if (!(split.trainEndMs < split.validEndMs))
    problems.push('the split must end training before validation');
  if (!input.trainingSet?.spine?.path) problems.push('no spine');
  if (!Array.isArray(input.trainingSet?.features) || input.trainingSet.features.length === 0)
    problems.push('no features');
  const trainer = input.trainer as
    { kind?: unknown; command?: unknown; params?: { kind?: unknown } } | undefined;
  if (trainer?.kind === 'builtin') {
    if (trainer.params?.kind !== 'mlp' && trainer.params?.kind !== 'logistic')
      problems.push('a builtin trainer needs params.kind mlp or logistic');
  } else if (trainer?.kind === 'external') {
    if (typeof trainer.command !== 'string' || trainer.command === '')
      problems.push('an external trainer needs a command');
  } else problems.push(`unknown trainer ${JSON.stringify(trainer?.kind)}: builtin or external`);
  if (problems.length > 0)
    throw ApplicationFailure.nonRetryable(
      `invalid training pipeline input: ${problems.join('; ')}`,
      FAILURE_TYPES.invalidInput,
    );
}

export const approveSignal = defineSignal<[ApprovalDecision]>('approve');
export const pipelineStageQuery = defineQuery<string>('stage');

const short = proxyActivities<Activities>(ACTIVITY_PROFILES.short);
const data = proxyActivities<Activities>(ACTIVITY_PROFILES.data);
const training = proxyActivities<Activities>(ACTIVITY_PROFILES.training);
const gpuTraining = proxyActivities<Activities>({
  ...ACTIVITY_PROFILES.training,
  taskQueue: TASK_QUEUES.gpu,
});

/**
 * Continuous training: training set (time split) → train → register as challenger → profile (the
 * monitor's reference) → evaluate against
 * the champion on the same holdout → gates → optional human approval → atomic promotion, or keep the
 * champion and record why.
 */
export async function trainingPipelineWorkflow(
  input: TrainingPipelineInput,
): Promise<TrainingPipelineResult> {
  assertPipelineInput(input);
  const { workflowId } = workflowInfo();
  let stage = 'training set';
  let approval: ApprovalDecision | undefined;
  setHandler(pipelineStageQuery, () => stage);
  setHandler(approveSignal, (decision) => {
    approval ??= decision;
  });
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }]);

  const manifest = await executeChild(buildTrainingSetWorkflow, {
    workflowId: `${workflowId}:training-set`,
    args: [input.trainingSet],
  });

  stage = 'train';
  let artifact: TrainedArtifact;
  let trainer: string;
  if (input.trainer.kind === 'builtin') {
    trainer = `builtin:${input.trainer.params.kind}`;
    artifact = await training.trainBuiltinModel({
      model: input.model,
      trainingSetId: manifest.id,
      label: input.label,
      params: input.trainer.params,
    });
  } else {
    // assertPipelineInput checked that a split was asked for: the manifest has its files.
    const split = manifest.split!.files;
    const features = manifest.features.map((f) => f.column);
    const run = input.trainer.gpu ? gpuTraining : training;
    trainer = `external:${input.trainer.command}${input.trainer.gpu ? ' (gpu)' : ''}`;
    const result = await run.runExternalTrainer({
      command: input.trainer.command,
      args: input.trainer.args,
      train: split.train.path,
      valid: split.validation.path,
      params: { label: input.label, features, ...input.trainer.params },
    });
    artifact = {
      artifactPath: result.modelPath,
      features,
      metrics: { validation: result.metrics },
    };
  }
  const { version } = await short.registerModel({
    ...artifact,
    model: input.model,
    trainer,
    params: input.trainer.params as Record<string, unknown>,
    trainingSetId: manifest.id,
    workflowId,
    lineage: input.lineage,
  });

  // The monitor's baseline: training data and validation scores of this version.
  stage = 'profile';
  await data.profileModelVersion({ model: input.model, version, label: input.label });

  stage = 'evaluate';
  const evaluation = await data.evaluateChallenger({
    model: input.model,
    challenger: version,
    label: input.label,
    gates: input.gates,
    slices: input.slices,
  });
  const failed = evaluation.gates.checks.filter((c) => !c.passed).map((c) => c.reason);
  const decide = async (status: 'promoted' | 'rejected', reasons: string[]) => {
    const decision = {
      model: input.model,
      version,
      workflowId,
      reason: status === 'promoted' ? 'passed the promotion gates' : `rejected: ${reasons.join('; ')}`,
      details: { gates: evaluation.gates.checks, approval: approval ?? null },
    };
    const result = (outcome: TrainingPipelineResult['status'], why: string[]) => {
      stage = outcome;
      return {
        model: input.model,
        version,
        trainingSetId: manifest.id,
        status: outcome,
        reasons: why,
        evaluation,
      };
    };
    if (status === 'rejected') {
      await short.recordRejection(decision);
      return result(status, reasons);
    }
    try {
      await short.promoteChampion({ ...decision, expectedChampion: evaluation.championVersion });
    } catch (error) {
      const conflict = aliasConflict(error);
      if (conflict === undefined) throw error;
      await short.recordRejection({ ...decision, reason: `not promoted: ${conflict}` });
      return result('conflict', [conflict]);
    }
    return result(status, reasons);
  };
  if (failed.length > 0) return decide('rejected', failed);

  if (input.approvalTimeout) {
    stage = 'awaiting approval';
    const answered = await condition(() => approval !== undefined, input.approvalTimeout);
    if (!answered) return decide('rejected', [`no approval within ${input.approvalTimeout}`]);
    if (!approval!.approved)
      return decide('rejected', [
        `declined by ${approval!.by}${approval!.reason ? `: ${approval!.reason}` : ''}`,
      ]);
  }
  return decide('promoted', []);
}
