/**
 * Performance of a binary classifier over a window: realized once labels arrived (AUC, precision and
 * recall at the serving threshold, log loss, calibration error), and estimated before they arrive
 * from calibrated scores (confidence-based performance estimation, NannyML's CBPE: each row counts as
 * a positive with weight c and a negative with weight 1 − c, c its calibrated probability).
 *
 * Every slice of every slicing is computed in one pass over the rows in score order (one native sort
 * of the scores, then a counting sort of the rows by their score's rank): an AUC counts, for each
 * positive, the negatives scored lower plus half of those scored the same, accumulated per tie group.
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
  const { order, start, values } = scoreGroups(scores);
  const n = order.length;
  if (n === 0) return { upper: [], rate: [] };
  const blocks: Array<{ upper: number; positives: number; rows: number }> = [];
  const target = Math.max(1, Math.ceil(n / CALIBRATION_BINS));
  for (let g = 0; g < values.length;) {
    // Whole tie groups until the bin holds its share of rows.
    let end = g;
    let rows = 0;
    let positives = 0;
    while (end < values.length && rows < target) {
      for (let k = start[end]; k < start[end + 1]; k++) positives += labels[order[k]];
      rows += start[end + 1] - start[end];
      end++;
    }
    blocks.push({ upper: values[end - 1], positives, rows });
    // Pool while the rates decrease: the fitted map never ranks a higher score lower.
    while (blocks.length > 1) {
      const b = blocks[blocks.length - 1];
      const a = blocks[blocks.length - 2];
      if (a.positives / a.rows <= b.positives / b.rows) break;
      blocks.splice(-2, 2, { upper: b.upper, positives: a.positives + b.positives, rows: a.rows + b.rows });
    }
    g = end;
  }
  return { upper: blocks.map((b) => b.upper), rate: blocks.map((b) => b.positives / b.rows) };
}

/** The calibrated probability of a score (the score itself without a calibration). */
export function calibrator(calibration: Calibration | undefined): (score: number) => number {
  if (!calibration || calibration.upper.length === 0) return (score) => score;
  const upper = Float64Array.from(calibration.upper);
  const last = upper.length - 1;
  // The first bin whose highest score is >= the score; above them all, the last.
  return (score) => calibration.rate[Math.min(last, lowerBound(upper, score))];
}

/**
 * The rows grouped by equal score, groups ascending: rows of group g are order[start[g] .. start[g+1]),
 * in row order. Rows whose score is not finite are in no group.
 */
export function scoreGroups(scores: Float64Array): {
  order: Uint32Array;
  start: Uint32Array;
  values: Float64Array;
} {
  const order = orderByScore(scores);
  const n = order.length;
  const bounds: number[] = [];
  const values: number[] = [];
  for (let r = 0; r < n; r++) {
    const s = scores[order[r]];
    if (r === 0 || s !== values[values.length - 1]) {
      bounds.push(r);
      values.push(s);
    }
  }
  bounds.push(n);
  return { order, start: Uint32Array.from(bounds), values: Float64Array.from(values) };
}

/** Bits per pass of the radix sort: 4 passes over a double's 64 bits, 65,536 buckets each. */
const RADIX_BITS = 16;

/**
 * Row indices ordered by ascending score, stable, non-finite scores left out: an LSD radix sort on the
 * doubles' bits (sign-adjusted so that their unsigned order is the numeric order). Linear, where a
 * comparison sort of indices would call back into JS n·log n times.
 */
function orderByScore(scores: Float64Array): Uint32Array {
  const words = new Uint32Array(scores.buffer, scores.byteOffset, scores.length * 2);
  let finite = 0;
  for (let i = 0; i < scores.length; i++) if (Number.isFinite(scores[i])) finite++;
  let hi = new Uint32Array(finite);
  let lo = new Uint32Array(finite);
  let index = new Uint32Array(finite);
  // Little-endian words: [low, high] per double.
  for (let i = 0, k = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) continue;
    const h = words[2 * i + 1];
    const l = words[2 * i];
    // -0 is 0: it ties with +0 (in row order), so it takes +0's key.
    const negative = h >>> 31 === 1 && ((h & 0x7fffffff) !== 0 || l !== 0);
    hi[k] = negative ? ~h >>> 0 : ((h & 0x7fffffff) | 0x80000000) >>> 0;
    lo[k] = negative ? ~l >>> 0 : l;
    index[k++] = i;
  }
  let [nextHi, nextLo, nextIndex] = [
    new Uint32Array(finite),
    new Uint32Array(finite),
    new Uint32Array(finite),
  ];
  const counts = new Uint32Array(1 << RADIX_BITS);
  for (let pass = 0; pass < 64 / RADIX_BITS; pass++) {
    const word = pass < 2 ? lo : hi;
    const shift = (pass % 2) * RADIX_BITS;
    counts.fill(0);
    for (let k = 0; k < finite; k++) counts[(word[k] >>> shift) & 0xffff]++;
    // A digit every key shares orders nothing.
    if (finite === 0 || counts[(word[0] >>> shift) & 0xffff] === finite) continue;
    for (let d = 0, total = 0; d < counts.length; d++) [counts[d], total] = [total, total + counts[d]];
    for (let k = 0; k < finite; k++) {
      const to = counts[(word[k] >>> shift) & 0xffff]++;
      nextHi[to] = hi[k];
      nextLo[to] = lo[k];
      nextIndex[to] = index[k];
    }
    [hi, nextHi] = [nextHi, hi];
    [lo, nextLo] = [nextLo, lo];
    [index, nextIndex] = [nextIndex, index];
  }
  return index;
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

/** A way of cutting rows into slices: each row's slice (−1: in none); null puts every row in slice 0. */
export interface Slicing {
  codes: Int32Array | null;
  slices: number;
}

export interface SlicePerformance {
  rows: number;
  /** Absent when no row of the slice has a label. */
  realized?: RealizedPerformance;
  estimated: EstimatedPerformance;
}

/** The figures a tie group shares: its score, calibrated probability and what a label costs there. */
interface TieGroup {
  score: number;
  calibrated: number;
  above: boolean;
  bin: number;
  lossIfPositive: number;
  lossIfNegative: number;
}

/**
 * Running sums of one slicing, one entry per slice. Rows only count themselves into their slice's
 * tie-group counts (rows, positives, negatives); everything else is folded in per group, since all
 * rows of a group share its score.
 */
class Sums {
  readonly rows: Float64Array;
  readonly positives: Float64Array;
  readonly negatives: Float64Array;
  readonly tp: Float64Array;
  readonly fp: Float64Array;
  readonly logLoss: Float64Array;
  readonly eceGap: Float64Array;
  readonly wins: Float64Array;
  readonly expected: Float64Array;
  readonly expectedTp: Float64Array;
  readonly expectedFp: Float64Array;
  readonly area: Float64Array;
  // The current tie group's rows by slice, and the slices it touched.
  readonly groupRows: Float64Array;
  readonly groupPositives: Float64Array;
  readonly groupNegatives: Float64Array;
  readonly touched: Int32Array;
  touchedCount = 0;

  constructor(readonly slices: number) {
    const array = () => new Float64Array(slices);
    this.rows = array();
    this.positives = array();
    this.negatives = array();
    this.tp = array();
    this.fp = array();
    this.logLoss = array();
    this.wins = array();
    this.expected = array();
    this.expectedTp = array();
    this.expectedFp = array();
    this.area = array();
    this.groupRows = array();
    this.groupPositives = array();
    this.groupNegatives = array();
    this.eceGap = new Float64Array(slices * ECE_BINS);
    this.touched = new Int32Array(slices);
  }

  /** Folds the tie group in: its pairs with the rows below it, half of those within it, and its counts. */
  closeGroup(g: TieGroup): void {
    for (let t = 0; t < this.touchedCount; t++) {
      const k = this.touched[t];
      const rows = this.groupRows[k];
      const positives = this.groupPositives[k];
      const negatives = this.groupNegatives[k];
      this.wins[k] += positives * (this.negatives[k] + negatives / 2);
      const c = g.calibrated * rows;
      const expectedNegativesBelow = this.rows[k] - this.expected[k];
      this.area[k] += c * (expectedNegativesBelow + (rows - c) / 2);
      this.rows[k] += rows;
      this.expected[k] += c;
      this.positives[k] += positives;
      this.negatives[k] += negatives;
      if (g.above) {
        this.expectedTp[k] += c;
        this.expectedFp[k] += rows - c;
        this.tp[k] += positives;
        this.fp[k] += negatives;
      }
      this.logLoss[k] += positives * g.lossIfPositive + negatives * g.lossIfNegative;
      this.eceGap[k * ECE_BINS + g.bin] += positives - g.score * (positives + negatives);
      this.groupRows[k] = this.groupPositives[k] = this.groupNegatives[k] = 0;
    }
    this.touchedCount = 0;
  }

  result(k: number): SlicePerformance {
    const rows = this.rows[k];
    const expectedPositives = this.expected[k];
    const estimated: EstimatedPerformance = {
      rows,
      auc:
        expectedPositives > 0 && rows - expectedPositives > 0
          ? this.area[k] / (expectedPositives * (rows - expectedPositives))
          : NaN,
      precision:
        this.expectedTp[k] + this.expectedFp[k] > 0
          ? this.expectedTp[k] / (this.expectedTp[k] + this.expectedFp[k])
          : NaN,
      recall: expectedPositives > 0 ? this.expectedTp[k] / expectedPositives : NaN,
      positiveRate: rows > 0 ? expectedPositives / rows : NaN,
    };
    const positives = this.positives[k];
    const negatives = this.negatives[k];
    const n = positives + negatives;
    if (n === 0) return { rows, estimated };
    const auc = positives > 0 && negatives > 0 ? this.wins[k] / (positives * negatives) : NaN;
    let gap = 0;
    for (let b = 0; b < ECE_BINS; b++) gap += Math.abs(this.eceGap[k * ECE_BINS + b]);
    const predicted = this.tp[k] + this.fp[k];
    return {
      rows,
      estimated,
      realized: {
        rows: n,
        positives,
        auc,
        aucStandardError: aucStandardError(auc, positives, negatives),
        precision: predicted > 0 ? this.tp[k] / predicted : NaN,
        recall: positives > 0 ? this.tp[k] / positives : NaN,
        logLoss: this.logLoss[k] / n,
        calibrationError: gap / n,
        positiveRate: positives / n,
      },
    };
  }
}

/**
 * Realized (rows with a 0/1 label; NaN: none yet) and estimated performance at `threshold` of every
 * slice of every slicing: result[s][k] for slice k of slicing s. Rows without a finite score are left
 * out.
 */
export function performanceBySlices(
  scores: Float64Array,
  labels: Float64Array,
  slicings: readonly Slicing[],
  calibration: Calibration | undefined,
  threshold: number,
): SlicePerformance[][] {
  const { order, start, values } = scoreGroups(scores);
  const sums = slicings.map((s) => new Sums(s.slices));
  const calibrate = calibrator(calibration);
  // Each row's label (1, 0, or -1: none yet) and slice per slicing, side by side: rows are visited in
  // score order, so what a row needs should be one memory access away.
  const width = slicings.length + 1;
  const packed = new Int32Array(scores.length * width);
  for (let i = 0; i < scores.length; i++) packed[i * width] = labels[i] === 1 ? 1 : labels[i] === 0 ? 0 : -1;
  slicings.forEach(({ codes }, q) => {
    if (codes) for (let i = 0; i < scores.length; i++) packed[i * width + 1 + q] = codes[i];
  });
  for (let g = 0; g < values.length; g++) {
    const score = values[g];
    const clipped = Math.min(Math.max(score, LOG_LOSS_EPSILON), 1 - LOG_LOSS_EPSILON);
    const group: TieGroup = {
      score,
      calibrated: calibrate(score),
      above: score >= threshold,
      bin: Math.min(ECE_BINS - 1, Math.max(0, Math.floor(score * ECE_BINS))),
      lossIfPositive: -Math.log(clipped),
      lossIfNegative: -Math.log(1 - clipped),
    };
    for (let r = start[g]; r < start[g + 1]; r++) {
      const at = order[r] * width;
      const y = packed[at];
      for (let q = 0; q < sums.length; q++) {
        const k = packed[at + 1 + q];
        if (k < 0) continue;
        const sum = sums[q];
        if (sum.groupRows[k] === 0) sum.touched[sum.touchedCount++] = k;
        sum.groupRows[k]++;
        if (y === 1) sum.groupPositives[k]++;
        else if (y === 0) sum.groupNegatives[k]++;
      }
    }
    for (const sum of sums) sum.closeGroup(group);
  }
  return sums.map((sum) => Array.from({ length: sum.slices }, (_, k) => sum.result(k)));
}

/** Realized and estimated performance of all the rows as one slice (0/1 labels, every row labelled). */
export function wholePerformance(
  scores: Float64Array,
  labels: Uint8Array,
  calibration: Calibration | undefined,
  threshold: number,
): SlicePerformance {
  const [[whole]] = performanceBySlices(
    scores,
    Float64Array.from(labels),
    [{ codes: null, slices: 1 }],
    calibration,
    threshold,
  );
  return whole;
}

/** Realized performance of scores against 0/1 labels at `threshold` (every row labelled). */
export function realizedPerformance(
  scores: Float64Array,
  labels: Uint8Array,
  threshold: number,
): RealizedPerformance {
  return wholePerformance(scores, labels, undefined, threshold).realized ?? { ...EMPTY_REALIZED };
}

/** Realized performance of no labelled rows. */
export const EMPTY_REALIZED: Readonly<RealizedPerformance> = {
  rows: 0,
  positives: 0,
  auc: NaN,
  aucStandardError: NaN,
  precision: NaN,
  recall: NaN,
  logLoss: NaN,
  calibrationError: NaN,
  positiveRate: NaN,
};
