/**
 * Reference profiles: what a model version's training data looked like, per input feature, and how
 * its scores were distributed on the validation split. Stored with the version at training time;
 * the monitor compares live windows against it (bins, categories, ranges, null rates).
 */
import type { Column } from '../feature-store/index.js';
import {
  EMPTY_REALIZED,
  fitCalibration,
  performanceBySlices,
  type Calibration,
  type RealizedPerformance,
  wholePerformance,
} from './performance.js';
import type { SliceSpec } from './policy.js';
import { sliceCodes, type SliceableRows } from './slices.js';
import { binCountsOfSorted, cdfPoints, quantileEdgesOfSorted, type CdfPoints } from './stats.js';
import { finiteSorted } from './sort.js';
import type { TextColumn } from './window-reader.js';

/** Equal-frequency bins of numeric references (deciles). */
export const PROFILE_BINS = 10;
/** CDF points kept per numeric reference (monitoring/stats.ts cdfPoints): KS D within ~1/256. */
export const PROFILE_CDF_POINTS = 256;
/** Categories kept by name; rarer ones are summed into `otherRate`. */
export const PROFILE_CATEGORIES = 50;

export interface NumericProfile {
  kind: 'numeric';
  /** Rows profiled, nulls included. */
  rows: number;
  nullRate: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  /** Interior quantile edges (monitoring/stats.ts quantileEdges) and the share of values per bin. */
  edges: number[];
  proportions: number[];
  /** The reference CDF for KS tests (format 2; absent in format-1 profiles). */
  cdf?: CdfPoints;
}

export interface CategoricalProfile {
  kind: 'categorical';
  rows: number;
  nullRate: number;
  /** Share of non-null values per category (the most frequent PROFILE_CATEGORIES). */
  categories: Record<string, number>;
  /** Share of non-null values in categories beyond those. */
  otherRate: number;
}

export type FeatureProfile = NumericProfile | CategoricalProfile;

/**
 * Validation performance a live window is held against: realized and, in newer profiles, the AUC
 * estimated from the calibrated scores of the same rows — what a live estimate is compared with (an
 * estimate reads only the scores, and can sit apart from the realized AUC, on validation as live).
 */
export interface ReferencePerformance extends RealizedPerformance {
  estimatedAuc?: number;
}

export interface ScoreProfile {
  rows: number;
  mean: number;
  edges: number[];
  proportions: number[];
  /** Share of validation rows scored at or above the serving threshold. */
  predictedPositiveRate: number;
  /** Share of positive labels on the validation split. */
  positiveRate: number;
  /** Format 2: the scores' CDF (prediction drift by KS). */
  cdf?: CdfPoints;
  /** Format 2: scores → observed positive rates on validation (estimated performance before labels). */
  calibration?: Calibration;
  /** Format 2: validation performance at the serving threshold, what live performance is compared with. */
  reference?: ReferencePerformance;
  /** Validation performance per slice of the model's monitor policy (`<slice>=<value>`), when it had one. */
  slices?: Record<string, ReferencePerformance>;
  /** Per field slice, the values it kept apart from `other` (its most frequent on validation). */
  sliceValues?: Record<string, string[]>;
}

export interface ModelProfile {
  /** Layout version of this object: 2 adds CDFs, the calibration and the reference performance. */
  format: 1 | 2;
  /** Training rows profiled. */
  rows: number;
  /** By model input column. */
  features: Record<string, FeatureProfile>;
  score: ScoreProfile;
}

/** The decision threshold of served scores: positive at or above it. */
export const DECISION_THRESHOLD = 0.5;

function proportionsOf(counts: Float64Array, total: number): number[] {
  return Array.from(counts, (c) => (total > 0 ? c / total : 0));
}

/** A numeric column's profile (NaN, ±Infinity and nulls count as null). */
export function numericProfile(values: Float64Array, valid?: Uint8Array): NumericProfile {
  const rows = values.length;
  const sorted = finiteSorted(values, valid);
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  const mean = n > 0 ? sum / n : NaN;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (sorted[i] - mean) * (sorted[i] - mean);
  const edges = quantileEdgesOfSorted(sorted, PROFILE_BINS);
  return {
    kind: 'numeric',
    rows,
    nullRate: rows > 0 ? (rows - n) / rows : 0,
    min: n > 0 ? sorted[0] : NaN,
    max: n > 0 ? sorted[n - 1] : NaN,
    mean,
    std: n > 1 ? Math.sqrt(squares / (n - 1)) : NaN,
    edges: Array.from(edges),
    proportions: proportionsOf(binCountsOfSorted(sorted, edges), n),
    cdf: cdfPoints(sorted, PROFILE_CDF_POINTS),
  };
}

/** A text column's profile: category shares, the rarest summed into `otherRate`. */
export function categoricalProfile(values: ReadonlyArray<string | null>): CategoricalProfile {
  const counts = new Map<string, number>();
  let present = 0;
  for (const value of values) {
    if (value === null) continue;
    present++;
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const kept = ranked.slice(0, PROFILE_CATEGORIES);
  const keptCount = kept.reduce((sum, [, c]) => sum + c, 0);
  return {
    kind: 'categorical',
    rows: values.length,
    nullRate: values.length > 0 ? (values.length - present) / values.length : 0,
    categories: Object.fromEntries(kept.map(([value, c]) => [value, c / present])),
    otherRate: present > 0 ? (present - keptCount) / present : 0,
  };
}

/** A model input column's profile: text columns are categorical, every other type numeric. */
export function profileColumn(column: Column): FeatureProfile {
  if (column.type === 'string') return categoricalProfile(column.values as (string | null)[]);
  const values =
    column.values instanceof Float64Array ? column.values : Float64Array.from(column.values as Uint8Array);
  return numericProfile(values, column.valid);
}

/** The score distribution of validation rows, its calibration, and the performance they give. */
export function scoreProfile(scores: Float64Array, labels: Uint8Array): ScoreProfile {
  const { rows, mean, edges, proportions, cdf } = numericProfile(scores);
  let predicted = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] >= DECISION_THRESHOLD) predicted++;
  const calibration = fitCalibration(scores, labels);
  const whole = wholePerformance(scores, labels, calibration, DECISION_THRESHOLD);
  const reference: ReferencePerformance = {
    ...(whole.realized ?? EMPTY_REALIZED),
    estimatedAuc: whole.estimated.auc,
  };
  return {
    rows,
    mean,
    edges,
    proportions,
    predictedPositiveRate: rows > 0 ? predicted / rows : NaN,
    positiveRate: reference.positiveRate,
    cdf,
    calibration,
    reference,
  };
}

/** How a labelled row set (a training set's validation split) names what slices read. */
export interface SliceSource {
  rows: number;
  columns: Record<string, Column>;
  /** The model's input columns, in input order. */
  inputColumns: readonly string[];
  /** The spine's timestamp column (a window's event time). */
  tsColumn: string;
  /** Spine columns of each entity key, by entity (prediction fields `entities.<entity>`). */
  entities: ReadonlyArray<{ entity: string; columns: readonly string[] }>;
}

/** A text column as the prediction log's `entities ->> field` reads it (codes into distinct texts). */
function fieldText(parts: Column[], rows: number): TextColumn {
  const codes = new Int32Array(rows);
  const dictionary: string[] = [];
  const byText = new Map<string, number>();
  for (let i = 0; i < rows; i++) {
    const values = parts.map((c) => (c.valid[i] ? String((c.values as ArrayLike<unknown>)[i]) : null));
    if (values.some((v) => v === null)) {
      codes[i] = -1;
      continue;
    }
    // Postgres renders a jsonb array as ["a", "b"]: a key of several parts reads back like that.
    const text = values.length === 1 ? values[0]! : `[${values.map((v) => JSON.stringify(v)).join(', ')}]`;
    let code = byText.get(text);
    if (code === undefined) byText.set(text, (code = dictionary.push(text) - 1));
    codes[i] = code;
  }
  return { codes, dictionary };
}

/**
 * Validation performance per slice of `slices` (the references a monitor holds each slice against),
 * and the values each field slice kept apart (windows are cut the same way). Slices this row set
 * cannot cut (an input the model does not read, a field it does not carry) have no reference.
 */
export function sliceReferences(
  slices: readonly SliceSpec[],
  source: SliceSource,
  scores: Float64Array,
  labels: Uint8Array,
  calibration: Calibration | undefined,
): Pick<ScoreProfile, 'slices' | 'sliceValues'> {
  const numeric = (column: Column | undefined) =>
    Float64Array.from({ length: source.rows }, (_, i) =>
      column && column.type !== 'string' && column.valid[i] ? (column.values as ArrayLike<number>)[i] : NaN,
    );
  const texts: Record<string, TextColumn> = {};
  for (const { entity, columns } of source.entities)
    texts[`entities.${entity}`] = fieldText(
      columns.map((name) => source.columns[name]),
      source.rows,
    );
  const rows: SliceableRows = {
    version: 0,
    rows: source.rows,
    eventTs: numeric(source.columns[source.tsColumn]),
    inputs: source.inputColumns.map((name) => numeric(source.columns[name])),
    texts,
  };
  const codes = slices.flatMap((slice) => sliceCodes(slice, rows, source.inputColumns) ?? []);
  const results = performanceBySlices(
    scores,
    Float64Array.from(labels),
    codes.map((c) => ({ codes: c.codes, slices: c.labels.length })),
    calibration,
    DECISION_THRESHOLD,
  );
  const references: Record<string, ReferencePerformance> = {};
  const sliceValues: Record<string, string[]> = {};
  codes.forEach((c, s) => {
    if (c.kept) sliceValues[c.name] = c.kept;
    c.labels.forEach((subject, k) => {
      const { realized, estimated } = results[s][k];
      if (realized) references[subject] = { ...realized, estimatedAuc: estimated.auc };
    });
  });
  return { slices: references, sliceValues };
}
