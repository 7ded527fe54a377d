/**
 * Evaluating registered versions on one holdout (a training set's test split, or a monitor window's
 * labelled events): each version's ONNX artifact (sha256-verified) scores the same rows, slices and
 * all, through models/evaluation.ts; the sessions are released when it is done.
 */
import { pinnedFeatureColumns } from '../feature-store/index.js';
import type { LabeledColumns } from './arrow-table.js';
import { InvalidModelInputError } from './errors.js';
import { evaluateModels, type EvaluationInput, type ModelEvaluation } from './evaluation.js';
import { createOnnxScorer, type OnnxScorer } from './onnx-scorer.js';
import { loadModelArtifact, type ModelVersion } from './registry.js';

/** The holdout's string columns `names`, as evaluation slices them. */
export function holdoutSlices(
  holdout: LabeledColumns,
  names: readonly string[],
): Record<string, (string | null)[]> {
  const slices: Record<string, (string | null)[]> = {};
  for (const name of names) {
    const column = holdout.columns[name];
    if (!column || !Array.isArray(column.values))
      throw new InvalidModelInputError(`invalid slice column "${name}": not a string column of the holdout`);
    slices[name] = column.values;
  }
  return slices;
}

/** Every version in `versions` (by result name) on the holdout. */
export async function evaluateVersions(
  holdout: LabeledColumns,
  versions: Record<string, ModelVersion>,
  opts: { slices?: readonly string[]; robustness?: EvaluationInput['robustness'] } = {},
): Promise<Record<string, ModelEvaluation>> {
  const slices = holdoutSlices(holdout, opts.slices ?? []);
  // onnxruntime sessions hold native memory: released when the evaluation is done.
  const scorers: OnnxScorer[] = [];
  try {
    const models = [];
    for (const [name, version] of Object.entries(versions)) {
      const scorer = await createOnnxScorer(await loadModelArtifact(version));
      scorers.push(scorer);
      models.push({
        name,
        score: scorer.score,
        features: pinnedFeatureColumns(version.features as string[]),
      });
    }
    return await evaluateModels({ test: { ...holdout, slices }, models, robustness: opts.robustness });
  } finally {
    await Promise.all(scorers.map((scorer) => scorer.release()));
  }
}
