/**
 * The statistics of model monitoring, columnar and dependency-free: quantile bins of a reference,
 * the population stability index on them, the two-sample Kolmogorov–Smirnov test and Pearson's
 * chi-squared test with their p-values. Checked against scipy/numpy to 1e-9
 * (test/fixtures/monitoring-stats.json, written by scripts/monitoring-fixtures.py).
 */
import { finiteSorted } from './sort.js';

/**
 * Interior bin edges at the reference's quantiles (`bins` equal-frequency bins; repeated quantiles
 * of a value-heavy column collapse into one edge). Bin i holds edges[i-1] < x <= edges[i]; the first
 * and last bins are open-ended, so live values beyond the reference's range still fall in a bin.
 */
export function quantileEdges(reference: Float64Array, bins: number): Float64Array {
  return quantileEdgesOfSorted(finiteSorted(reference), bins);
}

/** quantileEdges of values already finite and sorted (a profile sorts each column once). */
export function quantileEdgesOfSorted(sorted: Float64Array, bins: number): Float64Array {
  if (sorted.length === 0) return new Float64Array(0);
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const edge = quantile(sorted, k / bins);
    if (edges.length === 0 || edge > edges[edges.length - 1]) edges.push(edge);
  }
  // The top edge would put nothing above it: drop it so the last bin holds the maximum.
  if (edges.length > 0 && edges[edges.length - 1] >= sorted[sorted.length - 1]) edges.pop();
  return Float64Array.from(edges);
}

/** Linear-interpolation quantile of sorted values (numpy's default, "linear"). */
export function quantile(sorted: Float64Array, q: number): number {
  const position = q * (sorted.length - 1);
  const lo = Math.floor(position);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo);
}

/**
 * Counts of finite `values` per bin of `edges` (edges.length + 1 bins, see quantileEdges), in any
 * order; binCountsOfSorted counts sorted values faster.
 */
export function binCounts(values: Float64Array, edges: Float64Array): Float64Array {
  const counts = new Float64Array(edges.length + 1);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    // First edge >= v: values equal to an edge belong to the bin it closes.
    counts[lowerBound(edges, v)]++;
  }
  return counts;
}

/** binCounts of values already sorted ascending (all finite): a binary search per edge, not per value. */
export function binCountsOfSorted(sorted: Float64Array, edges: Float64Array): Float64Array {
  const counts = new Float64Array(edges.length + 1);
  let below = 0;
  for (let k = 0; k < edges.length; k++) {
    const atOrBelow = upperBound(sorted, edges[k]);
    counts[k] = atOrBelow - below;
    below = atOrBelow;
  }
  counts[edges.length] = sorted.length - below;
  return counts;
}

/** Proportions below which a bin counts as this much, so that an empty bin has a finite log ratio. */
export const PSI_EPSILON = 1e-4;

/**
 * Population stability index of `actual` against `expected` counts on the same bins:
 * Σ (a − e)·ln(a / e) over bin proportions, each proportion at least PSI_EPSILON.
 */
export function psi(expected: ArrayLike<number>, actual: ArrayLike<number>): number {
  if (expected.length !== actual.length) throw new RangeError('psi: bins differ');
  const e = proportions(expected);
  const a = proportions(actual);
  let total = 0;
  for (let i = 0; i < e.length; i++) {
    const pe = Math.max(e[i], PSI_EPSILON);
    const pa = Math.max(a[i], PSI_EPSILON);
    total += (pa - pe) * Math.log(pa / pe);
  }
  return total;
}

function proportions(counts: ArrayLike<number>): Float64Array {
  let sum = 0;
  for (let i = 0; i < counts.length; i++) sum += counts[i];
  const out = new Float64Array(counts.length);
  if (sum > 0) for (let i = 0; i < counts.length; i++) out[i] = counts[i] / sum;
  return out;
}

export interface TestResult {
  statistic: number;
  pValue: number;
}

/**
 * Two-sample Kolmogorov–Smirnov test on sorted samples: D = sup |F_a − F_b|, and its asymptotic
 * p-value Q_KS(√(n·m/(n+m))·D) (Kolmogorov's distribution, scipy.stats.kstwobign.sf). For the
 * window sizes monitoring works with (thousands of rows and more) this is what exact methods give.
 */
export function ksTwoSample(a: Float64Array, b: Float64Array): TestResult {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0) return { statistic: NaN, pValue: NaN };
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n && j < m) {
    const x = Math.min(a[i], b[j]);
    while (i < n && a[i] <= x) i++;
    while (j < m && b[j] <= x) j++;
    d = Math.max(d, Math.abs(i / n - j / m));
  }
  return { statistic: d, pValue: kolmogorovSurvival(Math.sqrt((n * m) / (n + m)) * d) };
}

/** P(K > z) of Kolmogorov's distribution (as cephes' kolmogorov, which scipy uses). */
export function kolmogorovSurvival(z: number): number {
  if (!(z > 0)) return 1;
  if (z < 1.18) {
    // 1 − K(z), K(z) = √(2π)/z · Σ exp(−(2k−1)²π²/(8z²)): fast where the alternating series is not.
    const w = (Math.PI * Math.PI) / (8 * z * z);
    let sum = 0;
    for (let k = 1; k <= 20; k++) sum += Math.exp(-(2 * k - 1) * (2 * k - 1) * w);
    return 1 - (Math.sqrt(2 * Math.PI) / z) * sum;
  }
  let sum = 0;
  for (let k = 1; k <= 100; k++) {
    const term = Math.exp(-2 * k * k * z * z);
    sum += k % 2 === 1 ? term : -term;
    if (term < 1e-17) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/**
 * Pearson's chi-squared test of `observed` counts against `expected` proportions of the same
 * categories (scaled to the observed total): Σ (o − e)²/e over categories with e > 0, degrees of
 * freedom categories − 1, p = P(χ²_dof > statistic). Cramér's V is its effect size.
 */
export function chiSquared(
  observed: ArrayLike<number>,
  expected: ArrayLike<number>,
): TestResult & { dof: number; cramersV: number } {
  if (observed.length !== expected.length) throw new RangeError('chiSquared: categories differ');
  let total = 0;
  for (let i = 0; i < observed.length; i++) total += observed[i];
  const p = proportions(expected);
  let statistic = 0;
  let categories = 0;
  for (let i = 0; i < observed.length; i++) {
    const e = p[i] * total;
    if (e <= 0) continue;
    statistic += ((observed[i] - e) * (observed[i] - e)) / e;
    categories++;
  }
  const dof = categories - 1;
  if (total === 0 || dof < 1) return { statistic: NaN, pValue: NaN, dof, cramersV: NaN };
  return {
    statistic,
    pValue: chiSquaredSurvival(statistic, dof),
    dof,
    cramersV: Math.sqrt(statistic / (total * dof)),
  };
}

/** P(χ²_k > x) = Q(k/2, x/2), the regularized upper incomplete gamma function. */
export function chiSquaredSurvival(x: number, k: number): number {
  if (!(x > 0)) return 1;
  return upperRegularizedGamma(k / 2, x / 2);
}

/** Q(s, x): a series for x < s + 1, else a continued fraction (Lentz), both to ~1e-15. */
export function upperRegularizedGamma(s: number, x: number): number {
  if (x <= 0) return 1;
  const logPrefix = -x + s * Math.log(x) - logGamma(s);
  if (x < s + 1) {
    let term = 1 / s;
    let sum = term;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (s + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-17) break;
    }
    return Math.max(0, 1 - sum * Math.exp(logPrefix));
  }
  const tiny = 1e-300;
  let b = x + 1 - s;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let n = 1; n < 10_000; n++) {
    const an = -n * (n - s);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(logPrefix) * h;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: ~1e-15 relative). */
export function logGamma(x: number): number {
  const g = 7;
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + g + 0.5;
  for (let i = 1; i < g + 2; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * A reference distribution's CDF at chosen points, exact at each: `below[k]` = P(X < x[k]),
 * `atOrBelow[k]` = P(X <= x[k]). A reference with at most `maxPoints` distinct values keeps them
 * all (its CDF is then known everywhere); otherwise the points are sample values at evenly spaced
 * quantiles, so an atom (a value many rows share) is still one exact step.
 */
export interface CdfPoints {
  x: number[];
  below: number[];
  atOrBelow: number[];
}

/** CDF points of sorted finite values (finiteSorted); at most `maxPoints` of them. */
export function cdfPoints(sorted: Float64Array, maxPoints: number): CdfPoints {
  const n = sorted.length;
  const points: CdfPoints = { x: [], below: [], atOrBelow: [] };
  if (n === 0) return points;
  const add = (value: number) => {
    points.x.push(value);
    points.below.push(lowerBound(sorted, value) / n);
    points.atOrBelow.push(upperBound(sorted, value) / n);
  };
  let distinct = 1;
  for (let i = 1; i < n && distinct <= maxPoints; i++) if (sorted[i] !== sorted[i - 1]) distinct++;
  if (distinct <= maxPoints) {
    for (let i = 0; i < n; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) add(sorted[i]);
    return points;
  }
  for (let k = 0; k < maxPoints; k++) {
    const value = sorted[Math.round((k / (maxPoints - 1)) * (n - 1))];
    if (points.x.length === 0 || value > points.x[points.x.length - 1]) add(value);
  }
  return points;
}

/** First index whose value is >= `value` in sorted values. */
export function lowerBound(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose value is > `value` in sorted values. */
export function upperBound(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** What a numeric window holds against a reference, gathered in one pass (numericCounts). */
export interface NumericCounts {
  /** Finite values. */
  present: number;
  /** Finite values below `min` or above `max`. */
  outside: number;
  /** Per bin of `edges` (binCounts). */
  bins: Float64Array;
  /** equal[j]: values at points[j]; between[j]: values in (points[j-1], points[j]), j = points.length above all. */
  equal: Float64Array;
  between: Float64Array;
}

/** The bin edges and CDF points of a reference merged into one sorted search table. */
export interface CountingTable {
  edges: Float64Array;
  points: Float64Array;
  /** Sorted union of edges and points. */
  merged: Float64Array;
  /** For merged[j]: its index among the points (−1 when only an edge). */
  point: Int32Array;
  /** For merged[j]: edges < merged[j], and edges <= merged[j]. */
  edgesBelow: Int32Array;
  edgesAtOrBelow: Int32Array;
  /**
   * A lookup grid over [merged[0], merged[last]]: cell c starts the search at cells[c], the first
   * merged value >= the cell's lower end, so a value finds its place in a step or two instead of a
   * binary search's unpredictable branches.
   */
  cells: Int32Array;
  origin: number;
  cellsPerUnit: number;
}

/** Grid cells per merged value: a few, so that cells hold about one value where the points are dense. */
const CELLS_PER_POINT = 16;

export function countingTable(edges: Float64Array, points: Float64Array): CountingTable {
  const merged = Float64Array.from(new Set([...edges, ...points])).sort();
  const count = Math.max(1, merged.length * CELLS_PER_POINT);
  const origin = merged.length > 0 ? merged[0] : 0;
  const span = merged.length > 1 ? merged[merged.length - 1] - origin : 0;
  const cellsPerUnit = span > 0 && Number.isFinite(count / span) ? count / span : 0;
  const cells = Int32Array.from({ length: count + 1 }, (_, c) =>
    cellsPerUnit > 0 ? lowerBound(merged, origin + c / cellsPerUnit) : 0,
  );
  return {
    edges,
    points,
    merged,
    cells,
    origin,
    cellsPerUnit,
    point: Int32Array.from(merged, (v) => {
      const j = lowerBound(points, v);
      return j < points.length && points[j] === v ? j : -1;
    }),
    edgesBelow: Int32Array.from(merged, (v) => lowerBound(edges, v)),
    edgesAtOrBelow: Int32Array.from(merged, (v) => upperBound(edges, v)),
  };
}

/**
 * One pass over live values (non-finite ones skipped) gathering everything a reference comparison
 * needs: the range check, the reference's bins, and the values' places among its CDF points — one
 * binary search per value in the merged table, the bins and the points' counts derived from it after.
 */
export function numericCounts(
  values: Float64Array,
  table: CountingTable,
  range: { min: number; max: number },
): NumericCounts {
  const { merged, cells, origin, cellsPerUnit } = table;
  const size = merged.length;
  const lastCell = cells.length - 1;
  // at[j]: values equal to merged[j]; inside[j]: values in (merged[j-1], merged[j]), j = size above all.
  const at = new Float64Array(size);
  const inside = new Float64Array(size + 1);
  const { min, max } = range;
  let present = 0;
  let outside = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v - v === 0)) continue; // NaN and ±Infinity
    present++;
    if (v < min || v > max) outside++;
    // The first merged value >= v: from its cell's start (a cell's values all lie below the next cell's start).
    const cell = (v - origin) * cellsPerUnit;
    let lo = cell <= 0 ? 0 : cells[cell >= lastCell ? lastCell : cell | 0];
    // Rounding at a cell's edge may start one value late: step back, then forward.
    while (lo > 0 && merged[lo - 1] >= v) lo--;
    while (lo < size && merged[lo] < v) lo++;
    if (lo < size && merged[lo] === v) at[lo]++;
    else inside[lo]++;
  }
  const k = table.points.length;
  const counts: NumericCounts = {
    present,
    outside,
    bins: new Float64Array(table.edges.length + 1),
    equal: new Float64Array(k),
    between: new Float64Array(k + 1),
  };
  // Values in (merged[j-1], merged[j]) lie above edgesAtOrBelow[j-1] edges and below the next point.
  let nextPoint = 0;
  for (let j = 0; j <= size; j++) {
    const edgesBefore = j === 0 ? 0 : table.edgesAtOrBelow[j - 1];
    counts.bins[edgesBefore] += inside[j];
    counts.between[nextPoint] += inside[j];
    if (j === size) break;
    counts.bins[table.edgesBelow[j]] += at[j];
    const p = table.point[j];
    if (p >= 0) {
      counts.equal[p] += at[j];
      nextPoint = p + 1;
    } else counts.between[nextPoint] += at[j];
  }
  return counts;
}

/**
 * Two-sample KS of live values (their numericCounts) against a reference of `referenceRows` rows
 * known by its CDF points: D is the largest gap between the two CDFs on both sides of every point,
 * exact when the points hold every reference value (then the reference CDF is flat between them) and
 * otherwise within the reference mass between adjacent points. p-value as in ksTwoSample.
 */
export function ksFromCounts(counts: NumericCounts, reference: CdfPoints, referenceRows: number): TestResult {
  const m = counts.present;
  const k = reference.x.length;
  if (m === 0 || k === 0 || referenceRows <= 0) return { statistic: NaN, pValue: NaN };
  let cumulative = 0;
  let d = 0;
  for (let j = 0; j < k; j++) {
    cumulative += counts.between[j];
    d = Math.max(d, Math.abs(cumulative / m - reference.below[j]));
    cumulative += counts.equal[j];
    d = Math.max(d, Math.abs(cumulative / m - reference.atOrBelow[j]));
  }
  const n = referenceRows;
  return { statistic: d, pValue: kolmogorovSurvival(Math.sqrt((n * m) / (n + m)) * d) };
}

/** KS of unsorted live values against a reference's CDF points (ksFromCounts). */
export function ksAgainstCdf(values: Float64Array, reference: CdfPoints, referenceRows: number): TestResult {
  const table = countingTable(new Float64Array(0), Float64Array.from(reference.x));
  return ksFromCounts(
    numericCounts(values, table, { min: -Infinity, max: Infinity }),
    reference,
    referenceRows,
  );
}
