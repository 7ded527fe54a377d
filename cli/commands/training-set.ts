import type { KaizenConfig } from '../../config.js';
import {
  parseFeatureRefs,
  type TimeSplit,
  type TrainingSetManifest,
  type TrainingSetRequest,
} from '../../feature-store/requests.js';
import { runTrainingSetBuild } from '../../runtime/training-set-runner.js';
import { resolveInputFile } from '../input-files.js';
import { withRuntime, withTemporal } from '../runtime-context.js';
import { parseTimeOption } from '../time-option.js';

export interface BuildOptions {
  spine: string;
  entity: string[];
  ts: string;
  features: string;
  label?: string;
  out: string;
  split?: string;
  shards?: number;
  /** `field=column`: spine column of an on-demand view's request field. */
  request?: string[];
}

/** `origin=airport` or `origin,destination=route`. */
export function parseEntityOption(text: string): { entity: string; columns: string[] } {
  const match = /^([^=]+)=([a-z][a-z0-9_]*)$/.exec(text);
  if (!match) throw new Error(`invalid --entity "${text}": expected <column>[,<column>…]=<entity>`);
  return { entity: match[2], columns: match[1].split(',').map((c) => c.trim()) };
}

/** `departure=date`: request field `departure` of on-demand views is read from spine column `date`. */
export function parseRequestOption(text: string): [string, string] {
  const match = /^([a-z][a-z0-9_]*)=(.+)$/.exec(text);
  if (!match) throw new Error(`invalid --request "${text}": expected <field>=<spine column>`);
  return [match[1], match[2].trim()];
}

/** `time:<train_end>,<valid_end>` (ISO times, UTC unless an offset is given). */
export function parseSplitOption(text: string): TimeSplit {
  const match = /^time:([^,]+),([^,]+)$/.exec(text);
  if (!match) throw new Error(`invalid --split "${text}": expected time:<train_end>,<valid_end>`);
  const trainEndMs = parseTimeOption('--split train_end', match[1]);
  const validEndMs = parseTimeOption('--split valid_end', match[2]);
  if (trainEndMs >= validEndMs)
    throw new Error(`invalid --split "${text}": train_end must precede valid_end`);
  return { trainEndMs, validEndMs };
}

export function formatManifest(m: TrainingSetManifest): string {
  const lines = [
    `training set ${m.id}`,
    `  file        ${m.path} (${m.rowCount.toLocaleString('en-US')} rows, sha256 ${m.contentHash.slice(0, 16)}…)`,
    `  spine       ${m.spine.path} (sha256 ${m.spine.sha256.slice(0, 16)}…), ts ${m.spine.tsColumn}${m.spine.labelColumn ? `, label ${m.spine.labelColumn}` : ''}`,
    `  time range  ${m.timeRange.start} .. ${m.timeRange.end}`,
    `  views       ${m.views.map((v) => `${v.name}@v${v.version}`).join(', ')}`,
    `  features    ${m.features.map((f) => f.column).join(', ')}`,
    `  shards      ${m.shards}; null-key spine rows ${m.nullKeyRows}`,
    `  created     ${m.createdAt}`,
  ];
  if (m.split) {
    for (const name of ['train', 'validation', 'test'] as const) {
      const file = m.split.files[name];
      lines.push(`  ${name.padEnd(11)} ${file.path} (${file.rows.toLocaleString('en-US')} rows)`);
    }
  }
  return lines.join('\n');
}

/** The training-set request that `training-set build` and `train` options describe. */
export function trainingSetRequestFromOptions(opts: BuildOptions): TrainingSetRequest {
  return {
    spine: {
      path: opts.spine,
      entities: opts.entity.map(parseEntityOption),
      tsColumn: opts.ts,
      labelColumn: opts.label,
      request: opts.request?.length ? Object.fromEntries(opts.request.map(parseRequestOption)) : undefined,
    },
    features: parseFeatureRefs(opts.features),
    split: opts.split ? parseSplitOption(opts.split) : undefined,
    out: opts.out,
    shards: opts.shards,
  };
}

export async function trainingSetBuildCommand(config: KaizenConfig, opts: BuildOptions): Promise<void> {
  const request = trainingSetRequestFromOptions({
    ...opts,
    spine: resolveInputFile('--spine', opts.spine, config.dataRoot),
  });
  await withTemporal(config, { worker: true }, async ({ temporal }) => {
    const { manifest, workflowId } = await runTrainingSetBuild(
      { temporal, taskQueue: config.taskQueue },
      request,
    );
    console.log(formatManifest(manifest));
    console.log(`workflow: ${workflowId}`);
  });
}

export async function trainingSetShowCommand(config: KaizenConfig, id: string): Promise<void> {
  await withRuntime(config, {}, async ({ store }) => {
    console.log(formatManifest(await store.getTrainingSet(id)));
  });
}
