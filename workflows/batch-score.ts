import {
  defineQuery,
  executeChild,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ScoringSpine } from '../activities/scoring.js';
import { ACTIVITY_PROFILES, SEARCH_ATTRIBUTE_KEYS } from '../constants.js';
import type { ModelAlias } from '../models/registry.js';
import { buildTrainingSetWorkflow } from './build-training-set.js';

export interface BatchScoreInput {
  model: string;
  /** A version number or an alias (default: the champion). */
  ref?: number | ModelAlias;
  spine: ScoringSpine;
  /** Output Arrow IPC file (absolute path): the spine's columns, then score, decision (and prediction_id). */
  out: string;
  /** Also write the scores to the prediction log as batch predictions. */
  log?: boolean;
  /** Parallel shards of the point-in-time join and of scoring. */
  shards?: number;
}

export interface BatchScoreResult {
  model: string;
  version: number;
  rows: number;
  out: string;
  logged: boolean;
  /** The point-in-time features the rows were scored on (a training set without a label). */
  trainingSetId: string;
}

export interface BatchScoreProgress {
  stage: 'resolve' | 'features' | 'score' | 'finalize' | 'done';
  partsDone: number;
  partsTotal: number;
}

export const batchScoreProgressQuery = defineQuery<BatchScoreProgress>('progress');

const short = proxyActivities<Activities>(ACTIVITY_PROFILES.short);
const data = proxyActivities<Activities>(ACTIVITY_PROFILES.data);

/**
 * Batch scoring: resolve the model version → its pinned features as of each spine row (the offline
 * point-in-time path, a child training-set build) → score contiguous parts in parallel with the ONNX
 * graph serving runs (logging them when asked) → one file in spine order.
 */
export async function batchScoreWorkflow(input: BatchScoreInput): Promise<BatchScoreResult> {
  const progress: BatchScoreProgress = { stage: 'resolve', partsDone: 0, partsTotal: 0 };
  setHandler(batchScoreProgressQuery, () => progress);
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }]);

  const model = await short.resolveScoringModel({
    model: input.model,
    ref: input.ref ?? 'champion',
    spine: input.spine,
  });

  progress.stage = 'features';
  const features = await executeChild(buildTrainingSetWorkflow, {
    workflowId: `${workflowInfo().workflowId}:features`,
    args: [
      {
        spine: model.spine,
        features: model.refs,
        out: `${model.dir}/features.arrow`,
        shards: input.shards,
      },
    ],
  });

  progress.stage = 'score';
  const rows = features.rowCount;
  const parts = Math.max(1, Math.min(input.shards ?? 1, rows));
  progress.partsTotal = parts;
  const trainingSet = {
    id: features.id,
    path: features.path,
    spineSha256: features.spine.sha256,
    featureColumns: features.features.map((f) => f.column),
  };
  const scored = await Promise.all(
    Array.from({ length: parts }, async (_, part) => {
      const result = await data.scoreBatchPart({
        model: input.model,
        version: model.version,
        trainingSet,
        spine: model.spine,
        requestFields: model.requestFields,
        from: Math.floor((rows * part) / parts),
        to: Math.floor((rows * (part + 1)) / parts),
        part,
        parts,
        dir: model.dir,
        log: input.log ?? false,
      });
      progress.partsDone++;
      return result.path;
    }),
  );

  progress.stage = 'finalize';
  await data.finalizeBatchScores({ parts: scored, out: input.out });
  progress.stage = 'done';
  return {
    model: input.model,
    version: model.version,
    rows,
    out: input.out,
    logged: input.log ?? false,
    trainingSetId: features.id,
  };
}
