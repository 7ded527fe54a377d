/**
 * Model evaluation on one holdout (design §3 "Evaluation"): champion and challenger are scored on the
 * very same rows, and each gets overall metrics, per-slice metrics, fairness gaps across slice values
 * and robustness to missing or perturbed features. Scorers are functions (feature columns → P(label=1))
 * so that the pipeline and tests can run the deployed ONNX graph (createOnnxScorer) or anything else.
 *
 * Conventions:
 * - A prediction is positive when its probability is >= 0.5 (as in models/metrics.ts).
 * - `positiveRate` is the fraction of labels that are 1 (as in BinaryMetrics); the fraction of rows
 *   predicted positive is `predictedPositiveRate`. Fairness compares predictions, so
 *   `positiveRateGap` is the gap in predictedPositiveRate (demographic parity); the label rate is the
 *   same for every model on the same rows and says nothing about a model.
 * - Null slice keys form their own slice value, named `NULL_SLICE_VALUE`.
 */
import { gatherColumn, type Column } from '../feature-store/index.js';
import { binaryMetrics, type BinaryMetrics } from './metrics.js';
import { gaussian, mulberry32, shuffle } from './prng.js';

/** Slice values with fewer rows are reported but left out of fairness gaps (too noisy to compare). */
export const DEFAULT_MIN_SLICE_ROWS = 30;
/** Default noise scale for perturbation, as a multiple of the column's standard deviation. */
export const DEFAULT_PERTURB_STD = 0.5;
/**
 * Robustness is measured on a seeded sample of at most this many test rows: it scores every model
 * twice per feature, and an AUC drop is known to ~0.005 (its standard error) from this many rows.
 */
export const DEFAULT_ROBUSTNESS_ROWS = 20_000;
export const NULL_SLICE_VALUE = '(null)';
const THRESHOLD = 0.5;

export interface EvaluationData {
  columns: Record<string, Column>;
  /** 0/1 per row. */
  label: Uint8Array;
  rows: number;
  /** Slice key per row by slice name, e.g. `{ origin_state: [...], hour_bucket: [...] }`. */
  slices?: Record<string, (string | null)[]>;
}

export interface ScoredModel {
  /** E.g. 'champion' or 'challenger'; keys the result. */
  name: string;
  /** P(label = 1) per row. */
  score: (columns: Record<string, Column>, rows: number) => Promise<Float64Array>;
  /** Feature columns the model reads: the ones robustness nulls and perturbs. */
  features: string[];
}

export interface EvaluationInput {
  test: EvaluationData;
  models: ScoredModel[];
  /** `false` skips robustness (two more scorings per feature and model) where it decides nothing. */
  robustness?:
    | {
        /** Noise standard deviation as a multiple of the column's std; default 0.5. */
        perturbStd?: number;
        /** Seed of the Gaussian noise and the row sample; default 42. The same seed perturbs every model identically. */
        seed?: number;
        /** Rows sampled for robustness (default DEFAULT_ROBUSTNESS_ROWS); all rows when the test has fewer. */
        sampleRows?: number;
      }
    | false;
  /** Minimum rows of a slice value for it to count in fairness gaps; default 30. */
  minSliceRows?: number;
}

export type OverallMetrics = BinaryMetrics;

export interface SliceMetrics extends BinaryMetrics {
  /** Labels that are 1 in the slice. */
  positives: number;
  /** True-positive rate (recall) at 0.5; NaN when the slice has no positive labels. */
  tpr: number;
  /** False-positive rate at 0.5; NaN when the slice has no negative labels. */
  fpr: number;
}

export interface FairnessGap {
  /** max − min TPR over compared values that have positive labels; 0 when fewer than two. */
  tprGap: number;
  /** max − min predictedPositiveRate over compared values; 0 when fewer than two. */
  positiveRateGap: number;
  /** Slice values with at least minSliceRows rows, i.e. the ones the gaps compare. */
  comparedValues: string[];
  /** Values with the highest and lowest TPR (absent when tprGap compares fewer than two). */
  tprExtremes?: { max: string; min: string };
  positiveRateExtremes?: { max: string; min: string };
}

/** On the robustness sample (all test rows, or a seeded sample of them): */
export interface FeatureRobustness {
  /** AUC with the feature null on every row. */
  nulledAuc: number;
  /** The sample's AUC − nulledAuc: how much the model relies on the feature. */
  aucDropNulled: number;
  /** Numeric (int64/float64) features only: AUC with seeded Gaussian noise added. */
  perturbedAuc?: number;
  aucDropPerturbed?: number;
}

export interface ModelEvaluation {
  overall: OverallMetrics;
  slices: Record<string, Record<string, SliceMetrics>>;
  fairness: Record<string, FairnessGap>;
  robustness: Record<string, FeatureRobustness>;
}

export async function evaluateModels(input: EvaluationInput): Promise<Record<string, ModelEvaluation>> {
  const { test, models } = input;
  validate(input);
  const minSliceRows = input.minSliceRows ?? DEFAULT_MIN_SLICE_ROWS;
  const perturbStd = (input.robustness || undefined)?.perturbStd ?? DEFAULT_PERTURB_STD;
  const seed = (input.robustness || undefined)?.seed ?? 42;
  const groups = sliceGroups(test.slices ?? {}, test.rows);
  const sample =
    input.robustness === false
      ? test
      : robustnessSample(test, input.robustness?.sampleRows ?? DEFAULT_ROBUSTNESS_ROWS, seed);
  // Modified columns are built once per feature so that every model sees the same nulls and noise.
  const nulled = new Map<string, Column>();
  const perturbed = new Map<string, Column | null>();

  const result: Record<string, ModelEvaluation> = {};
  for (const model of models) {
    const scores = await scoreChecked(model, test.columns, test.rows);
    const overall = binaryMetrics(test.label, scores);

    const slices: ModelEvaluation['slices'] = {};
    const fairness: ModelEvaluation['fairness'] = {};
    for (const [sliceName, values] of groups) {
      const perValue: Record<string, SliceMetrics> = {};
      for (const [value, rows] of values) perValue[value] = sliceMetrics(test.label, scores, rows);
      slices[sliceName] = perValue;
      fairness[sliceName] = fairnessGap(perValue, minSliceRows);
    }

    const robustness: ModelEvaluation['robustness'] = {};
    const features = input.robustness === false ? [] : model.features;
    const sampleAuc =
      sample === test || features.length === 0
        ? overall.auc
        : binaryMetrics(sample.label, await scoreChecked(model, sample.columns, sample.rows)).auc;
    for (const feature of features) {
      const column = sample.columns[feature];
      if (!column)
        throw new Error(`model "${model.name}" reads feature "${feature}", absent from the test columns`);
      let nulledColumn = nulled.get(feature);
      if (!nulledColumn) {
        nulledColumn = { type: column.type, values: column.values, valid: new Uint8Array(sample.rows) };
        nulled.set(feature, nulledColumn);
      }
      const nulledAuc = binaryMetrics(
        sample.label,
        await scoreChecked(model, { ...sample.columns, [feature]: nulledColumn }, sample.rows),
      ).auc;
      const entry: FeatureRobustness = { nulledAuc, aucDropNulled: sampleAuc - nulledAuc };

      if (!perturbed.has(feature))
        perturbed.set(feature, perturb(column, sample.rows, perturbStd, seed, feature));
      const noisy = perturbed.get(feature);
      if (noisy) {
        const perturbedAuc = binaryMetrics(
          sample.label,
          await scoreChecked(model, { ...sample.columns, [feature]: noisy }, sample.rows),
        ).auc;
        entry.perturbedAuc = perturbedAuc;
        entry.aucDropPerturbed = sampleAuc - perturbedAuc;
      }
      robustness[feature] = entry;
    }
    result[model.name] = { overall, slices, fairness, robustness };
  }
  return result;
}

/** The test rows robustness is measured on: all of them, or a seeded sample of `rows` in test order. */
function robustnessSample(test: EvaluationData, rows: number, seed: number): EvaluationData {
  if (test.rows <= rows) return test;
  const order = new Int32Array(test.rows).map((_, i) => i);
  shuffle(order, mulberry32(seed));
  const picked = order.subarray(0, rows).sort();
  return {
    rows,
    label: Uint8Array.from(picked, (r) => test.label[r]),
    columns: Object.fromEntries(
      Object.entries(test.columns).map(([name, column]) => [name, gatherColumn(column, picked)]),
    ),
  };
}

function validate({ test, models }: EvaluationInput): void {
  if (!(Number.isInteger(test.rows) && test.rows > 0))
    throw new Error('evaluation needs at least one test row');
  if (test.label.length !== test.rows)
    throw new Error(`label has ${test.label.length} values for ${test.rows} test rows`);
  for (const [name, column] of Object.entries(test.columns)) {
    if (column.values.length < test.rows || column.valid.length < test.rows)
      throw new Error(`test column "${name}" has fewer than ${test.rows} rows`);
  }
  for (const [name, keys] of Object.entries(test.slices ?? {})) {
    if (keys.length !== test.rows)
      throw new Error(`slice "${name}" has ${keys.length} keys for ${test.rows} test rows`);
  }
  if (models.length === 0) throw new Error('evaluation needs at least one model');
  const names = new Set<string>();
  for (const model of models) {
    if (names.has(model.name)) throw new Error(`model name "${model.name}" is given twice`);
    names.add(model.name);
  }
}

async function scoreChecked(
  model: ScoredModel,
  columns: Record<string, Column>,
  rows: number,
): Promise<Float64Array> {
  const scores = await model.score(columns, rows);
  if (scores.length !== rows)
    throw new Error(`model "${model.name}" returned ${scores.length} scores for ${rows} rows`);
  for (let i = 0; i < rows; i++) {
    const p = scores[i];
    if (!(p >= 0 && p <= 1)) throw new Error(`model "${model.name}" returned probability ${p} at row ${i}`);
  }
  return scores;
}

/** Row indices per slice value, per slice name; values in first-seen order. */
function sliceGroups(
  slices: Record<string, (string | null)[]>,
  rows: number,
): Map<string, Map<string, Uint32Array>> {
  const out = new Map<string, Map<string, Uint32Array>>();
  for (const [name, keys] of Object.entries(slices)) {
    const lists = new Map<string, number[]>();
    for (let i = 0; i < rows; i++) {
      const key = keys[i] ?? NULL_SLICE_VALUE;
      let list = lists.get(key);
      if (!list) lists.set(key, (list = []));
      list.push(i);
    }
    out.set(name, new Map([...lists].map(([k, list]) => [k, Uint32Array.from(list)])));
  }
  return out;
}

function sliceMetrics(label: Uint8Array, scores: Float64Array, rows: Uint32Array): SliceMetrics {
  const n = rows.length;
  const y = new Uint8Array(n);
  const p = new Float64Array(n);
  let positives = 0;
  let truePositives = 0;
  let falsePositives = 0;
  for (let k = 0; k < n; k++) {
    y[k] = label[rows[k]];
    p[k] = scores[rows[k]];
    positives += y[k];
    if (p[k] >= THRESHOLD) {
      if (y[k]) truePositives++;
      else falsePositives++;
    }
  }
  const negatives = n - positives;
  return {
    ...binaryMetrics(y, p),
    positives,
    tpr: positives > 0 ? truePositives / positives : NaN,
    fpr: negatives > 0 ? falsePositives / negatives : NaN,
  };
}

/**
 * Largest difference across slice values with at least `minSliceRows` rows. TPR compares only the
 * values that have positive labels (TPR is undefined otherwise).
 */
export function fairnessGap(perValue: Record<string, SliceMetrics>, minSliceRows: number): FairnessGap {
  const compared = Object.entries(perValue).filter(([, m]) => m.rows >= minSliceRows);
  const gap: FairnessGap = {
    tprGap: 0,
    positiveRateGap: 0,
    comparedValues: compared.map(([value]) => value),
  };
  const tpr = spread(compared.filter(([, m]) => !Number.isNaN(m.tpr)).map(([v, m]) => [v, m.tpr]));
  if (tpr) {
    gap.tprGap = tpr.gap;
    gap.tprExtremes = { max: tpr.max, min: tpr.min };
  }
  const rate = spread(compared.map(([v, m]) => [v, m.predictedPositiveRate]));
  if (rate) {
    gap.positiveRateGap = rate.gap;
    gap.positiveRateExtremes = { max: rate.max, min: rate.min };
  }
  return gap;
}

function spread(entries: [string, number][]): { gap: number; max: string; min: string } | undefined {
  if (entries.length < 2) return undefined;
  let [max, min] = [entries[0], entries[0]];
  for (const e of entries) {
    if (e[1] > max[1]) max = e;
    if (e[1] < min[1]) min = e;
  }
  return { gap: max[1] - min[1], max: max[0], min: min[0] };
}

/**
 * The column plus Gaussian noise with std `scale` × the column's std (over valid, finite values);
 * null for non-numeric columns (strings, bools, timestamps) or a constant column. The noise stream
 * is seeded by `seed` and the feature name, so it does not depend on feature or model order.
 */
function perturb(column: Column, rows: number, scale: number, seed: number, feature: string): Column | null {
  if (column.type !== 'float64' && column.type !== 'int64') return null;
  if (Array.isArray(column.values)) return null;
  const values = column.values;
  let count = 0;
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < rows; i++) {
    const x = values[i];
    if (!column.valid[i] || !Number.isFinite(x)) continue;
    count++;
    sum += x;
    squares += x * x;
  }
  if (count < 2) return null;
  const mean = sum / count;
  const std = Math.sqrt(Math.max(0, squares / count - mean * mean));
  if (!(std > 0)) return null;
  const random = mulberry32(seed ^ hash(feature));
  const noisy = new Float64Array(rows);
  for (let i = 0; i < rows; i++) noisy[i] = values[i] + gaussian(random) * scale * std;
  // The noisy column is float64 even for an int64 source: rounding back would hide small noise.
  return { type: 'float64', values: noisy, valid: column.valid };
}

/** FNV-1a of a string, for per-feature seeds. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
