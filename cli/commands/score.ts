import type { KaizenConfig } from '../../config.js';
import { MODEL_ALIASES, type ModelAlias } from '../../models/registry.js';
import { runBatchScore } from '../../runtime/batch-score-runner.js';
import type { BatchScoreInput, BatchScoreResult } from '../../workflows/index.js';
import { resolveInputFile } from '../input-files.js';
import { batchScoreBar } from '../progress.js';
import { withRuntime } from '../runtime-context.js';
import { parseEntityOption, parseRequestOption } from './training-set.js';

export interface ScoreOptions {
  spine: string;
  out: string;
  log?: boolean;
  shards?: number;
  entity: string[];
  ts?: string;
  request: string[];
}

/** `model`, `model@3` (or `@v3`), `model@champion`, `model@challenger`; the champion by default. */
export function parseModelRef(text: string): { model: string; ref: number | ModelAlias } {
  const match = /^([^@\s]+)(?:@(?:v?(\d+)|([a-z]+)))?$/.exec(text);
  const alias = match?.[3];
  if (!match || (alias !== undefined && !MODEL_ALIASES.includes(alias as ModelAlias)))
    throw new Error(`invalid model "${text}": expected <model>[@<version>|@champion|@challenger]`);
  return {
    model: match[1],
    ref: match[2] !== undefined ? Number(match[2]) : ((alias as ModelAlias | undefined) ?? 'champion'),
  };
}

/** The workflow input of `kaizen score`; mapping options left out keep the training spine's. */
export function batchScoreInputFromOptions(modelRef: string, opts: ScoreOptions): BatchScoreInput {
  return {
    ...parseModelRef(modelRef),
    spine: {
      path: opts.spine,
      entities: opts.entity.length > 0 ? opts.entity.map(parseEntityOption) : undefined,
      tsColumn: opts.ts,
      request: opts.request.length > 0 ? Object.fromEntries(opts.request.map(parseRequestOption)) : undefined,
    },
    out: opts.out,
    log: Boolean(opts.log),
    shards: opts.shards,
  };
}

export function formatBatchScoreResult(result: BatchScoreResult): string {
  return [
    `${result.model} v${result.version}: ${result.rows.toLocaleString('en-US')} rows scored → ${result.out}`,
    `  features   training set ${result.trainingSetId} (as of each spine row's time)`,
    result.logged
      ? `  logged     ${result.rows.toLocaleString('en-US')} batch predictions (ids in prediction_id)`
      : '  logged     no (--log writes them to the prediction log)',
  ].join('\n');
}

export async function scoreCommand(
  config: KaizenConfig,
  modelRef: string,
  opts: ScoreOptions,
): Promise<void> {
  const input = batchScoreInputFromOptions(modelRef, {
    ...opts,
    spine: resolveInputFile('--spine', opts.spine, config.dataRoot),
  });
  await withRuntime(config, { temporal: true, worker: true }, async ({ temporal }) => {
    const bar = batchScoreBar(input.model.padEnd(20));
    let run;
    try {
      run = await runBatchScore({ temporal: temporal!, taskQueue: config.taskQueue }, input, (p) =>
        bar.update(p),
      );
    } finally {
      bar.stop();
    }
    console.log(formatBatchScoreResult(run.result));
    console.log(`workflow: ${run.workflowId}`);
  });
}
