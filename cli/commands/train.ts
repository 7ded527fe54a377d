import { fileURLToPath } from 'node:url';
import { msToNumber } from '@temporalio/common';
import { splitList, type KaizenConfig } from '../../config.js';
import { parseGateConfig } from '../../models/gates.js';
import { startRetrain } from '../../runtime/retrain-runner.js';
import { startTrainingPipeline } from '../../runtime/training-pipeline-runner.js';
import { resultOf } from '../../runtime/workflow-runs.js';
import type { BuiltinParams } from '../../trainers/builtin/train.js';
import type { TrainingPipelineInput, TrainingPipelineResult } from '../../workflows/index.js';
import { withRuntime } from '../runtime-context.js';
import { resolveInputFile } from '../input-files.js';
import { parseTimeOption } from '../time-option.js';
import { trainingSetRequestFromOptions } from './training-set.js';

/** The PyTorch trainer script, by absolute path (the worker may run from another directory). */
export const TORCH_TRAINER_SCRIPT = fileURLToPath(new URL('../../trainers/torch/train.py', import.meta.url));

export interface TrainOptions {
  /** Without a spine: the model's registered training pipeline (defineTrainingPipeline) runs. */
  spine?: string;
  /** The registered pipeline's as-of time (default now). */
  asOf?: string;
  entity: string[];
  /** `field=column` of on-demand views' request fields. */
  request?: string[];
  ts?: string;
  label?: string;
  features?: string;
  split?: string;
  out?: string;
  trainer?: string;
  kind?: string;
  params?: string;
  gpu?: boolean;
  gates?: string;
  slices?: string;
  approvalTimeout?: string;
  /** false with `--no-wait`. */
  wait?: boolean;
}

function parseJsonObject(option: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(
      `invalid ${option} '${text}': not JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`invalid ${option} '${text}': expected a JSON object`);
  return value as Record<string, unknown>;
}

/** Builds the pipeline input from `kaizen train` options; every mistake is a clear error. */
/** Options of a run from a spine file. */
export type SpineTrainOptions = TrainOptions &
  Required<Pick<TrainOptions, 'spine' | 'ts' | 'label' | 'features' | 'out'>>;

export function buildTrainingPipelineInput(model: string, opts: SpineTrainOptions): TrainingPipelineInput {
  if (!opts.split) {
    throw new Error(
      '--split time:<train_end>,<valid_end> is required: the pipeline trains on the train/validation splits and evaluates on the test split',
    );
  }
  if (!opts.label) throw new Error('--label <column> is required');
  const trainerName = opts.trainer ?? 'builtin';
  const params = opts.params ? parseJsonObject('--params', opts.params) : {};
  let trainer: TrainingPipelineInput['trainer'];
  if (trainerName === 'builtin') {
    if (opts.gpu) throw new Error('--gpu needs --trainer torch (the builtin trainer runs on the CPU worker)');
    const kind = opts.kind ?? 'mlp';
    if (kind !== 'mlp' && kind !== 'logistic')
      throw new Error(`invalid --kind "${kind}": expected mlp or logistic`);
    trainer = { kind: 'builtin', params: { kind, ...params } as BuiltinParams };
  } else if (trainerName === 'torch') {
    trainer = {
      kind: 'external',
      command: 'python3',
      args: [TORCH_TRAINER_SCRIPT],
      params,
      gpu: Boolean(opts.gpu),
    };
  } else {
    throw new Error(`invalid --trainer "${trainerName}": expected builtin or torch`);
  }

  let gates: TrainingPipelineInput['gates'];
  if (opts.gates !== undefined) {
    const raw = parseJsonObject('--gates', opts.gates);
    try {
      gates = parseGateConfig(raw);
    } catch (error) {
      throw new Error(`invalid --gates: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  let approvalTimeout: string | undefined;
  if (opts.approvalTimeout !== undefined) {
    let ms: number;
    try {
      ms = msToNumber(opts.approvalTimeout as Parameters<typeof msToNumber>[0]);
    } catch {
      ms = NaN;
    }
    if (!(ms > 0))
      throw new Error(
        `invalid --approval-timeout "${opts.approvalTimeout}": expected a duration such as '1 day' or 2h`,
      );
    approvalTimeout = opts.approvalTimeout;
  }

  const slices = opts.slices === undefined ? undefined : splitList(opts.slices);

  return {
    model,
    trainingSet: trainingSetRequestFromOptions({ ...opts, shards: undefined }),
    label: opts.label,
    trainer,
    ...(gates ? { gates } : {}),
    ...(slices?.length ? { slices } : {}),
    ...(approvalTimeout ? { approvalTimeout } : {}),
  };
}

const f4 = (x: number | undefined) => (x === undefined ? '—' : Number.isNaN(x) ? 'NaN' : x.toFixed(4));

/** The outcome of a pipeline run: version, status, reasons, challenger vs champion, every gate. */
export function formatPipelineResult(result: TrainingPipelineResult): string {
  const { evaluation } = result;
  const champion = evaluation.champion?.overall;
  const challenger = evaluation.challenger.overall;
  const championHeader =
    evaluation.championVersion === null ? 'champion (none)' : `champion v${evaluation.championVersion}`;
  const lines = [
    `${result.model} v${result.version}: ${result.status} (training set ${result.trainingSetId})`,
  ];
  for (const reason of result.reasons) lines.push(`  reason: ${reason}`);
  lines.push('', `  ${'metric'.padEnd(10)} ${`challenger v${result.version}`.padEnd(16)} ${championHeader}`);
  for (const [label, key] of [
    ['AUC', 'auc'],
    ['log-loss', 'logLoss'],
    ['ECE', 'ece'],
  ] as const) {
    lines.push(`  ${label.padEnd(10)} ${f4(challenger[key]).padEnd(16)} ${f4(champion?.[key])}`);
  }
  lines.push('', '  gates:');
  if (evaluation.gates.checks.length === 0) lines.push('    (no gate applied)');
  for (const check of evaluation.gates.checks)
    lines.push(`    ${check.passed ? '✔' : '✘'} ${check.gate}: ${check.reason}`);
  return lines.join('\n');
}

/** The registered pipeline's run options: only these apply without --spine. */
const SPINE_ONLY = [
  'ts',
  'label',
  'features',
  'split',
  'out',
  'trainer',
  'kind',
  'params',
  'gates',
  'slices',
] as const;

export async function trainCommand(config: KaizenConfig, model: string, opts: TrainOptions): Promise<void> {
  if (opts.spine === undefined) return trainRegisteredCommand(config, model, opts);
  if (opts.asOf !== undefined) throw new Error('--as-of runs the registered pipeline: leave out --spine');
  for (const option of ['ts', 'label', 'features', 'out'] as const)
    if (opts[option] === undefined) throw new Error(`--${option} is required with --spine`);
  const input = buildTrainingPipelineInput(model, {
    ...(opts as SpineTrainOptions),
    spine: resolveInputFile('--spine', opts.spine, config.dataRoot),
  });
  const wait = opts.wait !== false;
  await withRuntime(config, { temporal: true, worker: true }, async ({ temporal, stack }) => {
    if (!wait && stack) {
      throw new Error(
        '--no-wait needs a running stack (`kaizen dev`, or TEMPORAL_ADDRESS with a worker): an embedded one stops when this command exits',
      );
    }
    const handle = await startTrainingPipeline({ temporal: temporal!, taskQueue: config.taskQueue }, input);
    console.log(`workflow: ${handle.workflowId}`);
    if (input.approvalTimeout) {
      console.log(
        `after the gates pass it waits up to ${input.approvalTimeout} for: kaizen models approve ${handle.workflowId} [--reject]`,
      );
    }
    if (!wait) return;
    console.log(formatPipelineResult(await resultOf(handle)));
  });
}

/** `kaizen train <model> [--as-of t]`: the model's registered pipeline, as of `--as-of` (default now). */
async function trainRegisteredCommand(
  config: KaizenConfig,
  model: string,
  opts: TrainOptions,
): Promise<void> {
  const given = [
    ...SPINE_ONLY.filter((option) => opts[option] !== undefined),
    ...(opts.entity.length > 0 ? ['entity'] : []),
    ...((opts.request?.length ?? 0) > 0 ? ['request'] : []),
  ];
  if (given.length > 0)
    throw new Error(
      `--${given.join(', --')} describe a run from a spine file (--spine); the registered pipeline of ${model} defines its own: edit it and kaizen apply`,
    );
  const asOfMs = opts.asOf === undefined ? Date.now() : parseTimeOption('--as-of', opts.asOf);
  const wait = opts.wait !== false;
  await withRuntime(config, { temporal: true, worker: true }, async ({ temporal, stack }) => {
    if (!wait && stack)
      throw new Error('--no-wait needs a running stack (`kaizen dev`, or TEMPORAL_ADDRESS with a worker)');
    const handle = await startRetrain(
      { temporal: temporal!, taskQueue: config.taskQueue },
      { model, asOfMs, trigger: 'manual' },
    );
    console.log(
      `workflow: ${handle.workflowId} (the registered pipeline of ${model}, as of ${new Date(asOfMs).toISOString()})`,
    );
    if (!wait) return;
    const result = await resultOf(handle);
    console.log(
      `pipeline ${model}@v${result.pipelineVersion}: ${result.spineRows.toLocaleString('en-US')} labelled events in the spine`,
    );
    console.log(formatPipelineResult(result.pipeline));
  });
}
