/**
 * Performance of a binary classifier over a window: realized once labels arrived (AUC, precision and
 * recall at the serving threshold, log loss, calibration error), and estimated before they arrive
 * from calibrated scores (confidence-based performance estimation, NannyML's CBPE: each row counts as
 * a positive with weight c and a negative with weight 1 − c, c its calibrated probability).
 * Columnar: sorts are native typed-array sorts, never per-row objects.
 */
import { lowerBound } from './stats.js';

const LOG_LOSS_EPSILON = 1e-15;
/** Equal-width probability bins of the expected calibration error (as models/metrics.ts). */
const ECE_BINS = 10;

export interface RealizedPerformance {
  rows: number;
  positives: number;
  /** NaN when only one class is present. */
  auc: number;
  /** Hanley–McNeil standard error of the AUC (NaN with one class). */
  aucStandardError: number;
  precision: number;
  recall: number;
  logLoss: number;
  calibrationError: number;
  positiveRate: number;
}

export interface EstimatedPerformance {
  rows: number;
  auc: number;
  precision: number;
  recall: number;
  /** Expected share of positive labels. */
  positiveRate: number;
}

/**
 * A monotone map from scores to observed positive rates, fitted on validation rows: `upper[i]` is the
 * highest score of bin i, `rate[i]` its (isotonic) positive rate; scores above the last bin take it.
 */
export interface Calibration {
  upper: number[];
  rate: number[];
}

/** Bins of the isotonic fit before pooling: enough resolution, bounded size in the profile. */
const CALIBRATION_BINS = 100;

/**
 * Fits isotonic calibration (pool-adjacent-violators over equal-count score bins) on scores and 0/1
 * labels. Rows with equal scores stay in one bin, so the map is a function of the score.
 */
export function fitCalibration(scores: Float64Array, labels: Uint8Array): Calibration {
  const n = scores.length;
  if (n === 0) return { upper: [], rate: [] };
  const order = sortedOrder(scores);
  const blocks: Array<{ upper: number; positives: number; rows: number }> = [];
  const target = Math.max(1, Math.ceil(n / CALIBRATION_BINS));
  for (let i = 0; i < n;) {
    let end = Math.min(n, i + target);
    while (end < n && scores[order[end]] === scores[order[end - 1]]) end++;
    let positives = 0;
    for (let k = i; k < end; k++) positives += labels[order[k]];
    blocks.push({ upper: scores[order[end - 1]], positives, rows: end - i });
    // Pool while the rates decrease: the fitted map never ranks a higher score lower.
    while (blocks.length > 1) {
      const b = blocks[blocks.length - 1];
      const a = blocks[blocks.length - 2];
      if (a.positives / a.rows <= b.positives / b.rows) break;
      blocks.splice(-2, 2, { upper: b.upper, positives: a.positives + b.positives, rows: a.rows + b.rows });
    }
    i = end;
  }
  return { upper: blocks.map((b) => b.upper), rate: blocks.map((b) => b.positives / b.rows) };
}

/** Calibrated probability of a score (the score itself without a calibration). */
export function calibrate(calibration: Calibration | undefined, score: number): number {
  if (!calibration || calibration.upper.length === 0) return score;
  // The first bin whose highest score is >= the score; above them all, the last.
  return calibration.rate[Math.min(calibration.upper.length - 1, lowerBound(calibration.upper, score))];
}

/** Indices ordering `scores` ascending (stable for equal scores). */
function sortedOrder(scores: Float64Array): Int32Array {
  const order = new Int32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => scores[a] - scores[b] || a - b);
}

/**
 * Mann–Whitney AUC from the scores of positives and of negatives, both sorted ascending: pairs
 * ranked right count 1, ties ½. Linear after the two sorts.
 */
export function aucOfSorted(positives: Float64Array, negatives: Float64Array): number {
  if (positives.length === 0 || negatives.length === 0) return NaN;
  let below = 0; // negatives with a lower score than the current positive
  let tied = 0;
  let wins = 0;
  let j = 0;
  for (let i = 0; i < positives.length; i++) {
    const s = positives[i];
    if (i === 0 || s !== positives[i - 1]) {
      while (j < negatives.length && negatives[j] < s) j++;
      below = j;
      let t = j;
      while (t < negatives.length && negatives[t] === s) t++;
      tied = t - j;
    }
    wins += below + tied / 2;
  }
  return wins / (positives.length * negatives.length);
}

/** Hanley & McNeil (1982) standard error of an AUC from P positives and N negatives. */
export function aucStandardError(auc: number, positives: number, negatives: number): number {
  if (!Number.isFinite(auc) || positives === 0 || negatives === 0) return NaN;
  const q1 = auc / (2 - auc);
  const q2 = (2 * auc * auc) / (1 + auc);
  const variance =
    (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) /
    (positives * negatives);
  return Math.sqrt(Math.max(0, variance));
}

/**
 * Realized performance of `scores` against 0/1 `labels` at `threshold`, over the rows selected by
 * `rows` (indices; all rows when omitted).
 */
export function realizedPerformance(
  scores: Float64Array,
  labels: Uint8Array,
  threshold: number,
  rows?: Uint32Array,
): RealizedPerformance {
  const n = rows ? rows.length : scores.length;
  let positives = 0;
  for (let k = 0; k < n; k++) positives += labels[rows ? rows[k] : k];
  const pos = new Float64Array(positives);
  const neg = new Float64Array(n - positives);
  let tp = 0;
  let fp = 0;
  let logLoss = 0;
  const binCount = new Float64Array(ECE_BINS);
  const binGap = new Float64Array(ECE_BINS);
  for (let k = 0, p = 0, q = 0; k < n; k++) {
    const i = rows ? rows[k] : k;
    const s = scores[i];
    const y = labels[i];
    if (y) pos[p++] = s;
    else neg[q++] = s;
    if (s >= threshold) {
      if (y) tp++;
      else fp++;
    }
    const clipped = Math.min(Math.max(s, LOG_LOSS_EPSILON), 1 - LOG_LOSS_EPSILON);
    logLoss -= y ? Math.log(clipped) : Math.log(1 - clipped);
    const bin = Math.min(ECE_BINS - 1, Math.max(0, Math.floor(s * ECE_BINS)));
    binCount[bin]++;
    binGap[bin] += y - s;
  }
  let calibrationError = 0;
  for (let b = 0; b < ECE_BINS; b++) calibrationError += Math.abs(binGap[b]);
  const auc = aucOfSorted(pos.sort(), neg.sort());
  return {
    rows: n,
    positives,
    auc,
    aucStandardError: aucStandardError(auc, positives, n - positives),
    precision: tp + fp > 0 ? tp / (tp + fp) : NaN,
    recall: positives > 0 ? tp / positives : NaN,
    logLoss: n > 0 ? logLoss / n : NaN,
    calibrationError: n > 0 ? calibrationError / n : NaN,
    positiveRate: n > 0 ? positives / n : NaN,
  };
}

/**
 * Estimated performance from the scores alone (CBPE). The calibration is monotone in the score, so
 * one sort of the scores orders the calibrated probabilities too; the AUC is the area under the
 * expected ROC curve (tie groups contribute half their own pairs, as a trapezoid).
 */
export function estimatedPerformance(
  scores: Float64Array,
  calibration: Calibration | undefined,
  threshold: number,
  rows?: Uint32Array,
): EstimatedPerformance {
  const n = rows ? rows.length : scores.length;
  const sorted = new Float64Array(n);
  for (let k = 0; k < n; k++) sorted[k] = scores[rows ? rows[k] : k];
  sorted.sort();
  let positives = 0;
  let negatives = 0;
  let area = 0;
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < n;) {
    const s = sorted[i];
    let end = i + 1;
    while (end < n && sorted[end] === s) end++;
    const c = calibrate(calibration, s);
    const groupPositives = c * (end - i);
    const groupNegatives = (1 - c) * (end - i);
    area += groupPositives * (negatives + groupNegatives / 2);
    positives += groupPositives;
    negatives += groupNegatives;
    if (s >= threshold) {
      tp += groupPositives;
      fp += groupNegatives;
    }
    i = end;
  }
  return {
    rows: n,
    auc: positives > 0 && negatives > 0 ? area / (positives * negatives) : NaN,
    precision: tp + fp > 0 ? tp / (tp + fp) : NaN,
    recall: positives > 0 ? tp / positives : NaN,
    positiveRate: n > 0 ? positives / n : NaN,
  };
}
