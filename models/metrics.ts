/** Binary-classification metrics on labels (0/1) and predicted probabilities of label 1. */
import { finiteSorted } from '../monitoring/sort.js';
import { lowerBound, upperBound } from '../monitoring/stats.js';

export interface BinaryMetrics {
  rows: number;
  /** Area under the ROC curve; NaN when only one class is present. */
  auc: number;
  logLoss: number;
  /** Fraction correct when predicting 1 for probability >= 0.5. */
  accuracy: number;
  /** Expected calibration error over 10 equal-width probability bins. */
  ece: number;
  /** Fraction of labels that are 1. */
  positiveRate: number;
  /** Fraction of predictions >= 0.5. */
  predictedPositiveRate: number;
}

const LOG_LOSS_EPSILON = 1e-15;

/**
 * Rank-based AUC (Mann–Whitney U): tied scores share their average rank — a positive's rank is the
 * middle of its score's run in the sorted scores (one native sort, then a binary search per positive;
 * a sort of row indices by a comparator cost seconds on a retraining's holdout and validation). Rows
 * without a finite score are left out.
 */
export function auc(labels: Uint8Array, probabilities: Float64Array): number {
  const sorted = finiteSorted(probabilities);
  let positives = 0;
  let positiveRankSum = 0;
  for (let i = 0; i < labels.length; i++) {
    if (!labels[i] || !Number.isFinite(probabilities[i])) continue;
    positives++;
    // Ranks lowerBound+1 .. upperBound (1-based) share the score.
    positiveRankSum += (lowerBound(sorted, probabilities[i]) + 1 + upperBound(sorted, probabilities[i])) / 2;
  }
  const negatives = sorted.length - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Mean binary cross-entropy, probabilities clipped to [ε, 1 - ε] so a confident miss stays finite. */
export function logLoss(labels: Uint8Array, probabilities: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(Math.max(probabilities[i], LOG_LOSS_EPSILON), 1 - LOG_LOSS_EPSILON);
    sum -= labels[i] ? Math.log(p) : Math.log(1 - p);
  }
  return sum / labels.length;
}

export function accuracy(labels: Uint8Array, probabilities: Float64Array): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if ((probabilities[i] >= 0.5 ? 1 : 0) === labels[i]) correct++;
  return correct / labels.length;
}

/** Σ over bins of (bin size / n) · |mean label − mean probability|. */
export function expectedCalibrationError(labels: Uint8Array, probabilities: Float64Array, bins = 10): number {
  const count = new Float64Array(bins);
  const labelSum = new Float64Array(bins);
  const probabilitySum = new Float64Array(bins);
  for (let i = 0; i < labels.length; i++) {
    const bin = Math.min(bins - 1, Math.max(0, Math.floor(probabilities[i] * bins)));
    count[bin]++;
    labelSum[bin] += labels[i];
    probabilitySum[bin] += probabilities[i];
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) ece += Math.abs(labelSum[b] - probabilitySum[b]);
  return ece / labels.length;
}

export function binaryMetrics(labels: Uint8Array, probabilities: Float64Array): BinaryMetrics {
  let positives = 0;
  let predictedPositives = 0;
  for (let i = 0; i < labels.length; i++) {
    positives += labels[i];
    if (probabilities[i] >= 0.5) predictedPositives++;
  }
  return {
    rows: labels.length,
    auc: auc(labels, probabilities),
    logLoss: logLoss(labels, probabilities),
    accuracy: accuracy(labels, probabilities),
    ece: expectedCalibrationError(labels, probabilities),
    positiveRate: positives / labels.length,
    predictedPositiveRate: predictedPositives / labels.length,
  };
}
