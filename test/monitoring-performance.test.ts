/**
 * The monitor's performance figures and its KS against reference CDFs, checked against independent
 * implementations: models/metrics.ts (rank AUC, log loss, ECE), direct counts, and scipy (the
 * monitoring-stats fixture).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { auc, expectedCalibrationError, logLoss } from '../models/metrics.js';
import { mulberry32 } from '../models/prng.js';
import {
  fitCalibration,
  performanceBySlices,
  realizedPerformance,
  scoreGroups,
} from '../monitoring/performance.js';
import {
  binCounts,
  cdfPoints,
  countingTable,
  ksAgainstCdf,
  numericCounts,
  quantileEdges,
} from '../monitoring/stats.js';
import { finiteSorted } from '../monitoring/sort.js';
import { STATS_FIXTURE } from './support/monitoring-fixture.js';

const close = (actual: number, expected: number, tolerance: number, label: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${label}: ${actual} vs ${expected}`);

/** Scores with many ties (two decimals) and labels drawn with probability = score: a calibrated model. */
function sample(rows: number, seed: number) {
  const random = mulberry32(seed);
  const scores = Float64Array.from({ length: rows }, () => Math.round(random() * 100) / 100);
  const labels = Uint8Array.from(scores, (s) => (random() < s ? 1 : 0));
  return { scores, labels };
}

describe('monitor performance and KS against independent references', () => {
  test('realized: AUC (ties half), log loss and ECE as models/metrics.ts; precision and recall by counting', () => {
    const { scores, labels } = sample(20_000, 1);
    const r = realizedPerformance(scores, labels, 0.5);
    close(r.auc, auc(labels, scores), 1e-12, 'AUC');
    close(r.logLoss, logLoss(labels, scores), 1e-12, 'log loss');
    close(r.calibrationError, expectedCalibrationError(labels, scores), 1e-12, 'ECE');
    let tp = 0;
    let predicted = 0;
    let positives = 0;
    labels.forEach((y, i) => {
      positives += y;
      if (scores[i] >= 0.5) {
        predicted++;
        tp += y;
      }
    });
    close(r.precision, tp / predicted, 1e-15, 'precision');
    close(r.recall, tp / positives, 1e-15, 'recall');
    assert.ok(r.aucStandardError > 0 && r.aucStandardError < 0.01);
  });

  test('every slice of every slicing in one pass equals the slice computed alone; unlabelled rows are left out', () => {
    const { scores, labels } = sample(12_000, 2);
    const random = mulberry32(3);
    const codes = Int32Array.from(scores, () => Math.floor(random() * 4) - 1);
    const withUnknown = Float64Array.from(labels, (y, i) => (i % 7 === 0 ? NaN : y));
    const [[whole], bySlice] = performanceBySlices(
      scores,
      withUnknown,
      [
        { codes: null, slices: 1 },
        { codes, slices: 3 },
      ],
      undefined,
      0.5,
    );
    const subset = (keep: (i: number) => boolean) => {
      const rows = [...scores.keys()].filter(keep);
      return realizedPerformance(
        Float64Array.from(rows, (i) => scores[i]),
        Uint8Array.from(rows, (i) => labels[i]),
        0.5,
      );
    };
    assert.equal(whole.rows, 12_000);
    assert.deepEqual(
      whole.realized,
      subset((i) => i % 7 !== 0),
    );
    for (let k = 0; k < 3; k++) {
      const alone = subset((i) => codes[i] === k && i % 7 !== 0);
      for (const key of ['auc', 'logLoss', 'calibrationError', 'precision', 'recall'] as const)
        close(bySlice[k].realized![key], alone[key], 1e-12, `slice ${k} ${key}`);
      assert.equal(bySlice[k].rows, codes.filter((c) => c === k).length);
    }
  });

  test('estimated (CBPE) matches realized performance of a calibrated model before its labels are known', () => {
    const { scores, labels } = sample(200_000, 4);
    const calibration = fitCalibration(scores, labels);
    // The fitted map is monotone and close to the identity (the model is calibrated).
    calibration.rate.forEach((r, i) => assert.ok(i === 0 || r >= calibration.rate[i - 1]));
    const [[{ estimated }]] = performanceBySlices(
      scores,
      new Float64Array(scores.length).fill(NaN),
      [{ codes: null, slices: 1 }],
      calibration,
      0.5,
    );
    const realized = realizedPerformance(scores, labels, 0.5);
    close(estimated.auc, realized.auc, 0.005, 'AUC');
    close(estimated.precision, realized.precision, 0.005, 'precision');
    close(estimated.recall, realized.recall, 0.005, 'recall');
    close(estimated.positiveRate, realized.positiveRate, 0.005, 'positive rate');
  });

  test('score groups: every finite score once, ascending, ties in row order (negatives, zeros, NaN)', () => {
    const random = mulberry32(5);
    const scores = Float64Array.from({ length: 50_000 }, (_, i) =>
      i % 97 === 0 ? NaN : i % 89 === 0 ? -0 : Math.round((random() - 0.3) * 1e4) / 1e3,
    );
    scores[7] = Infinity;
    const { order, start, values } = scoreGroups(scores);
    const finite = [...scores.keys()].filter((i) => Number.isFinite(scores[i]));
    const expected = finite.sort((a, b) => scores[a] - scores[b] || a - b);
    assert.deepEqual(Array.from(order), expected);
    assert.deepEqual(
      Array.from(values, (v) => v + 0),
      [...new Set(expected.map((i) => scores[i] + 0))],
    );
    for (let g = 0; g < values.length; g++)
      for (let r = start[g]; r < start[g + 1]; r++) assert.ok(scores[order[r]] === values[g]);
  });

  test('one pass counts a window as the reference bins and CDF points would, one by one', () => {
    const random = mulberry32(6);
    const reference = finiteSorted(Float64Array.from({ length: 5000 }, () => Math.floor(random() * 40)));
    const live = Float64Array.from({ length: 8000 }, (_, i) =>
      i % 50 === 0 ? NaN : Math.floor(random() * 45) - 2,
    );
    const edges = quantileEdges(reference, 10);
    for (const points of [
      Float64Array.from(cdfPoints(reference, 256).x),
      Float64Array.from(cdfPoints(reference, 7).x),
    ]) {
      const counts = numericCounts(live, countingTable(edges, points), { min: 0, max: 39 });
      assert.deepEqual(Array.from(counts.bins), Array.from(binCounts(live, edges)));
      const values = live.filter(Number.isFinite);
      assert.equal(counts.present, values.length);
      assert.equal(counts.outside, values.filter((v) => v < 0 || v > 39).length);
      points.forEach((x, j) => {
        assert.equal(counts.equal[j], values.filter((v) => v === x).length);
        assert.equal(counts.between[j], values.filter((v) => v < x && (j === 0 || v > points[j - 1])).length);
      });
      assert.equal(counts.between[points.length], values.filter((v) => v > points[points.length - 1]).length);
    }
  });

  test('KS against a reference CDF: exact when the reference has few values, within 1/256 otherwise (scipy)', () => {
    const fixture = STATS_FIXTURE;
    for (const c of fixture.drift) {
      const reference = finiteSorted(Float64Array.from(c.reference));
      const points = cdfPoints(reference, 256);
      const ks = ksAgainstCdf(Float64Array.from(c.live), points, reference.length);
      const exact = new Set(c.reference).size <= 256;
      close(ks.statistic, c.ks.statistic, exact ? 1e-12 : 1 / 255, `${c.name}: D`);
      if (exact) close(ks.pValue, c.ks.pValue, 1e-9, `${c.name}: p`);
    }
  });
});
