/**
 * What one monitor window says about one model version, against its reference profile: data quality
 * and drift per input, drift of the prediction, realized performance where labels are known and
 * estimated performance everywhere, overall and per slice. Every verdict is `drift`/`stable` (or
 * `degraded`/`ok`) or `no_verdict` with the reason (too few rows, no profile); never a guess.
 */
import {
  DECISION_THRESHOLD,
  type FeatureProfile,
  type ModelProfile,
  type NumericProfile,
  type ReferencePerformance,
} from './profile.js';
import {
  performanceBySlices,
  type EstimatedPerformance,
  type RealizedPerformance,
  type SlicePerformance,
} from './performance.js';
import type { MonitorPolicy } from './policy.js';
import { sliceCodes } from './slices.js';
import { chiSquared, countingTable, ksFromCounts, numericCounts, psi, type CountingTable } from './stats.js';
import type { TextColumn, VersionRows } from './window-reader.js';

export type Verdict = 'drift' | 'stable' | 'no_verdict';

export interface DriftFinding {
  /** A model input column, or `score`. */
  subject: string;
  kind: 'numeric' | 'categorical';
  /** Rows with a value. */
  rows: number;
  nullRate: number;
  referenceNullRate: number;
  /** Numeric: share of values outside the reference's [min, max]. */
  outOfRangeRate?: number;
  /**
   * Categorical: share of values outside the categories the profile names; the reference's own share
   * there (its rarest categories) is `referenceOtherRate`, and only the excess counts against quality.
   */
  unseenRate?: number;
  referenceOtherRate?: number;
  psi: number;
  test: 'ks' | 'chi2' | 'none';
  /** KS D or chi-squared statistic. */
  statistic: number;
  pValue: number;
  /** KS D or Cramér's V. */
  effect: number;
  verdict: Verdict;
  /** Data quality: null rate or range/category checks out of bounds. */
  quality: Verdict;
  /** Why, in words (the thresholds crossed, or why there is no verdict). */
  reason: string;
  /** How far past the verdict's thresholds, 1 at a threshold (drift types compare these across windows). */
  strength: number;
  /** For drifted subjects: the older version whose reference this window is closest to, when closer than this one's. */
  closerTo?: { version: number; statistic: number };
}

export interface PerformanceFinding {
  /** '' (the whole window) or `<slice>=<value>`. */
  subject: string;
  rows: number;
  labelled: number;
  realized?: RealizedPerformance;
  estimated: EstimatedPerformance;
  /** The validation AUC it is held against. */
  referenceAuc: number;
  /** What the window's estimate is held against: the AUC estimated on validation (older profiles: the realized one). */
  referenceEstimatedAuc: number;
  /** Realized AUC below the reference by more than the policy allows, significantly. */
  verdict: 'degraded' | 'ok' | 'no_verdict';
  estimatedVerdict: 'degraded' | 'ok' | 'no_verdict';
  reason: string;
  /** The realized and the estimated AUC drop as multiples of the allowed drop. */
  strength: number;
  estimatedStrength: number;
}

export interface WindowAnalysis {
  version: number;
  rows: number;
  labelled: number;
  profiled: boolean;
  features: DriftFinding[];
  score?: DriftFinding;
  performance: PerformanceFinding[];
  /** Policy slices this version cannot be cut by, with why (no verdict for them). */
  skippedSlices: Array<{ name: string; reason: string }>;
}

export interface AnalysisInput {
  rows: VersionRows;
  /** The version's input columns in model input order. */
  inputColumns: readonly string[];
  profile: ModelProfile | null;
  policy: MonitorPolicy;
  /** Profiles of versions older than this one: a drifted window closer to one of them is recurring drift. */
  others?: Array<{ version: number; profile: ModelProfile }>;
}

export function analyzeWindow(input: AnalysisInput): WindowAnalysis {
  const { rows, profile, policy } = input;
  let labelled = 0;
  for (let i = 0; i < rows.rows; i++) if (rows.labels[i] === 0 || rows.labels[i] === 1) labelled++;
  const analysis: WindowAnalysis = {
    version: rows.version,
    rows: rows.rows,
    labelled,
    profiled: profile !== null,
    features: [],
    performance: [],
    skippedSlices: [],
  };
  if (!profile) return analysis;
  // Bonferroni: the family-wise p-value spread over every test of the window.
  const alpha = policy.drift.pValue / (input.inputColumns.length + 1);
  input.inputColumns.forEach((column, position) => {
    const reference = profile.features[column];
    if (!reference) return;
    const finding =
      reference.kind === 'numeric'
        ? numericDrift(column, rows.inputs[position], reference, policy, alpha)
        : categoricalDrift(column, rows.texts[`features.${column}`], rows.rows, reference, policy, alpha);
    if (finding.verdict === 'drift')
      finding.closerTo = closerOlderReference(finding, column, rows, position, input);
    analysis.features.push(finding);
  });
  analysis.score = numericDrift('score', rows.scores, scoreReference(profile), policy, alpha);
  const performance = performanceFindings(input);
  analysis.performance = performance.findings;
  analysis.skippedSlices = performance.skipped;
  return analysis;
}

/** The validation scores as a numeric reference (scores have no nulls, and no range to leave). */
function scoreReference({ score }: ModelProfile): NumericProfile {
  return {
    kind: 'numeric',
    rows: score.rows,
    nullRate: 0,
    min: -Infinity,
    max: Infinity,
    mean: score.mean,
    std: NaN,
    edges: score.edges,
    proportions: score.proportions,
    cdf: score.cdf,
  };
}

/** A stored figure when it is a finite number (JSON keeps NaN as null), else the fallback. */
const finiteOr = (x: number | null | undefined, fallback: number) =>
  typeof x === 'number' && Number.isFinite(x) ? x : fallback;

const fmt = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(3)).toString() : String(x));

/** A numeric reference's counting table (its bin edges and CDF points), built once per profile. */
const countingTables = new WeakMap<NumericProfile, CountingTable>();
function referenceTable(reference: NumericProfile): CountingTable {
  let table = countingTables.get(reference);
  if (!table)
    countingTables.set(
      reference,
      (table = countingTable(Float64Array.from(reference.edges), Float64Array.from(reference.cdf?.x ?? []))),
    );
  return table;
}

function numericDrift(
  subject: string,
  values: Float64Array | undefined,
  reference: NumericProfile,
  policy: MonitorPolicy,
  alpha: number,
): DriftFinding {
  const total = values?.length ?? 0;
  const counts = numericCounts(values ?? new Float64Array(0), referenceTable(reference), reference);
  const { present, outside } = counts;
  const referenceRows = Math.round(reference.rows * (1 - reference.nullRate));
  const ks = reference.cdf
    ? ksFromCounts(counts, reference.cdf, referenceRows)
    : { statistic: NaN, pValue: NaN };
  const finding: DriftFinding = {
    subject,
    kind: 'numeric',
    rows: present,
    nullRate: total > 0 ? (total - present) / total : NaN,
    referenceNullRate: reference.nullRate,
    outOfRangeRate: present > 0 ? outside / present : NaN,
    psi: present > 0 ? psi(reference.proportions, counts.bins) : NaN,
    test: reference.cdf ? 'ks' : 'none',
    statistic: ks.statistic,
    pValue: ks.pValue,
    effect: ks.statistic,
    verdict: 'no_verdict',
    quality: 'no_verdict',
    reason: '',
    strength: 0,
  };
  return judge(finding, total, policy, alpha, policy.drift.minKsStatistic, policy.quality.maxOutOfRangeRate);
}

function categoricalDrift(
  subject: string,
  text: TextColumn | undefined,
  total: number,
  reference: Extract<FeatureProfile, { kind: 'categorical' }>,
  policy: MonitorPolicy,
  alpha: number,
): DriftFinding {
  const categories = Object.keys(reference.categories);
  const index = new Map(categories.map((c, i) => [c, i]));
  // Observed counts per reference category, then the rest (the reference's "other" share).
  const observed = new Float64Array(categories.length + 1);
  const byCode = (text?.dictionary ?? []).map((value) => index.get(value) ?? categories.length);
  let present = 0;
  for (let i = 0; i < total; i++) {
    const code = text ? text.codes[i] : -1;
    if (code < 0) continue;
    present++;
    observed[byCode[code]]++;
  }
  const expected = [...categories.map((c) => reference.categories[c]), reference.otherRate];
  const test = chiSquared(observed, expected);
  const finding: DriftFinding = {
    subject,
    kind: 'categorical',
    rows: present,
    nullRate: total > 0 ? (total - present) / total : NaN,
    referenceNullRate: reference.nullRate,
    unseenRate: present > 0 ? observed[categories.length] / present : NaN,
    referenceOtherRate: reference.otherRate,
    psi: present > 0 ? psi(expected, observed) : NaN,
    test: 'chi2',
    statistic: test.statistic,
    pValue: test.pValue,
    effect: test.cramersV,
    verdict: 'no_verdict',
    quality: 'no_verdict',
    reason: '',
    strength: 0,
  };
  return judge(finding, total, policy, alpha, policy.drift.minCramersV, policy.quality.maxUnseenRate);
}

/** Drift: PSI at its threshold, or a significant test with a large enough effect. Quality: nulls, range. */
function judge(
  f: DriftFinding,
  total: number,
  policy: MonitorPolicy,
  alpha: number,
  minEffect: number,
  maxOutsideRate: number,
): DriftFinding {
  if (total < policy.minRows) {
    f.reason = `${total} rows < ${policy.minRows}`;
    return f;
  }
  const nullIncrease = f.nullRate - f.referenceNullRate;
  const outside =
    f.kind === 'numeric' ? (f.outOfRangeRate ?? 0) : (f.unseenRate ?? 0) - (f.referenceOtherRate ?? 0);
  const qualityIssues = [
    ...(nullIncrease > policy.quality.maxNullRateIncrease
      ? [`null rate ${fmt(f.nullRate)} (reference ${fmt(f.referenceNullRate)})`]
      : []),
    ...(outside > maxOutsideRate
      ? [
          f.kind === 'numeric'
            ? `${fmt(outside)} out of the reference range`
            : `${fmt(f.unseenRate!)} in categories the reference has not named (reference ${fmt(f.referenceOtherRate!)})`,
        ]
      : []),
  ];
  f.quality = qualityIssues.length > 0 ? 'drift' : 'stable';
  if (f.rows < policy.minRows) {
    f.reason = [...qualityIssues, `${f.rows} values < ${policy.minRows}`].join('; ');
    return f;
  }
  const effectName = f.test === 'chi2' ? "Cramér's V" : 'KS D';
  const byPsi = f.psi >= policy.drift.psi;
  const byTest = f.pValue < alpha && f.effect >= minEffect;
  f.verdict = byPsi || byTest ? 'drift' : 'stable';
  f.strength = Math.max(f.psi / policy.drift.psi, Number.isFinite(f.effect) ? f.effect / minEffect : 0);
  const figures = `PSI ${fmt(f.psi)}, ${effectName} ${fmt(f.effect)} (p ${fmt(f.pValue)})`;
  f.reason = [...qualityIssues, f.verdict === 'drift' ? `drift: ${figures}` : figures].join('; ');
  return f;
}

/**
 * An older version's reference this drifted window is much closer to: by KS D (numeric) or PSI
 * (categorical), at most half of this version's and below the drift floor.
 */
function closerOlderReference(
  finding: DriftFinding,
  column: string,
  rows: VersionRows,
  position: number,
  input: AnalysisInput,
): DriftFinding['closerTo'] {
  let best: DriftFinding['closerTo'];
  for (const other of input.others ?? []) {
    const reference = other.profile.features[column];
    if (!reference || reference.kind !== finding.kind) continue;
    let statistic: number;
    let closer: boolean;
    if (reference.kind === 'numeric') {
      if (!reference.cdf) continue;
      const counts = numericCounts(rows.inputs[position], referenceTable(reference), reference);
      statistic = ksFromCounts(
        counts,
        reference.cdf,
        Math.round(reference.rows * (1 - reference.nullRate)),
      ).statistic;
      closer = statistic < input.policy.drift.minKsStatistic && statistic <= finding.statistic / 2;
    } else {
      statistic = categoricalDrift(
        column,
        rows.texts[`features.${column}`],
        rows.rows,
        reference,
        input.policy,
        0,
      ).psi;
      closer = statistic < input.policy.drift.psi && statistic <= finding.psi / 2;
    }
    if (closer && (!best || statistic < best.statistic)) best = { version: other.version, statistic };
  }
  return best;
}

/**
 * The whole window, then each slice of each policy slice, all from one pass (performanceBySlices);
 * field slices keep the values their reference kept, so that `other` means the same on both sides.
 */
function performanceFindings(input: AnalysisInput): {
  findings: PerformanceFinding[];
  skipped: WindowAnalysis['skippedSlices'];
} {
  const { rows, policy, profile } = input;
  const { calibration, reference, slices, sliceValues } = profile!.score;
  const skipped: WindowAnalysis['skippedSlices'] = [];
  const slicings = policy.slices.flatMap((slice) => {
    const codes = sliceCodes(slice, rows, input.inputColumns, sliceValues?.[slice.name]);
    if (!codes)
      skipped.push({
        name: slice.name,
        reason: `v${rows.version} cannot be cut by slice "${slice.name}" (${'input' in slice ? `it has no numeric input ${slice.input}` : `no field ${'field' in slice ? slice.field : ''}`}): no verdict`,
      });
    return codes ? [codes] : [];
  });
  const results = performanceBySlices(
    rows.scores,
    rows.labels,
    [{ codes: null, slices: 1 }, ...slicings.map((c) => ({ codes: c.codes, slices: c.labels.length }))],
    calibration,
    DECISION_THRESHOLD,
  );
  const finding = (
    subject: string,
    { rows: size, realized, estimated }: SlicePerformance,
    reference: ReferencePerformance | undefined,
    minLabelled: number,
    maxDrop: number,
  ): PerformanceFinding => {
    const labelled = realized?.rows ?? 0;
    const referenceAuc = reference?.auc ?? NaN;
    // An estimate is held against the same estimate on validation (older profiles have the realized
    // AUC only; a validation estimate that could not be made gives no verdict).
    const referenceEstimatedAuc =
      reference?.estimatedAuc === undefined ? referenceAuc : finiteOr(reference.estimatedAuc, NaN);
    const f: PerformanceFinding = {
      subject,
      rows: size,
      labelled,
      realized,
      estimated,
      referenceAuc,
      referenceEstimatedAuc,
      verdict: 'no_verdict',
      estimatedVerdict: 'no_verdict',
      reason: '',
      strength: 0,
      estimatedStrength: (referenceEstimatedAuc - estimated.auc) / maxDrop,
    };
    const reasons: string[] = [];
    if (!Number.isFinite(referenceAuc))
      reasons.push(`no validation AUC for ${subject || 'the whole window'} in the profile`);
    else {
      if (size >= policy.minRows && Number.isFinite(estimated.auc) && Number.isFinite(referenceEstimatedAuc))
        f.estimatedVerdict = referenceEstimatedAuc - estimated.auc > maxDrop ? 'degraded' : 'ok';
      if (!realized || labelled < minLabelled) reasons.push(`${labelled} labelled rows < ${minLabelled}`);
      else if (!Number.isFinite(realized.auc)) reasons.push('labels of one class only');
      else {
        const drop = referenceAuc - realized.auc;
        // The validation AUC is a sample too: the drop's standard error counts both (a slice's reference is small).
        const z = drop / Math.hypot(realized.aucStandardError, finiteOr(reference?.aucStandardError, 0));
        f.verdict = drop > maxDrop && z >= policy.performance.minZ ? 'degraded' : 'ok';
        f.strength = drop / maxDrop;
        reasons.push(
          `AUC ${fmt(realized.auc)} vs ${fmt(referenceAuc)} on validation (${fmt(z)} standard errors)`,
        );
      }
      if (f.estimatedVerdict !== 'no_verdict')
        reasons.push(`estimated AUC ${fmt(estimated.auc)} vs ${fmt(referenceEstimatedAuc)}`);
    }
    f.reason = reasons.join('; ');
    return f;
  };
  // A slice is held against its own validation AUC (slices differ in how well any model does).
  const findings = [
    finding('', results[0][0], reference, policy.minLabelled, policy.performance.maxAucDrop),
    ...slicings.flatMap((c, s) =>
      c.labels.flatMap((subject, k) =>
        results[s + 1][k].rows === 0
          ? []
          : [
              finding(
                subject,
                results[s + 1][k],
                slices?.[subject],
                policy.performance.minSliceLabelled,
                policy.performance.maxSliceAucDrop,
              ),
            ],
      ),
    ),
  ];
  return { findings, skipped };
}
