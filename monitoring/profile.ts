/**
 * Reference profiles: what a model version's training data looked like, per input feature, and how
 * its scores were distributed on the validation split. Stored with the version at training time;
 * the monitor compares live windows against it (bins, categories, ranges, null rates).
 */
import type { Column } from '../feature-store/index.js';
import { binCounts, finiteSorted, quantileEdges } from './stats.js';

/** Equal-frequency bins of numeric references (deciles). */
export const PROFILE_BINS = 10;
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

export interface ScoreProfile {
  rows: number;
  mean: number;
  edges: number[];
  proportions: number[];
  /** Share of validation rows scored at or above the serving threshold. */
  predictedPositiveRate: number;
  /** Share of positive labels on the validation split. */
  positiveRate: number;
}

export interface ModelProfile {
  /** Layout version of this object. */
  format: 1;
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
  const present = valid ? values.filter((_, i) => valid[i] === 1) : values;
  const sorted = finiteSorted(present);
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  const mean = n > 0 ? sum / n : NaN;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (sorted[i] - mean) * (sorted[i] - mean);
  const edges = quantileEdges(sorted, PROFILE_BINS);
  return {
    kind: 'numeric',
    rows,
    nullRate: rows > 0 ? (rows - n) / rows : 0,
    min: n > 0 ? sorted[0] : NaN,
    max: n > 0 ? sorted[n - 1] : NaN,
    mean,
    std: n > 1 ? Math.sqrt(squares / (n - 1)) : NaN,
    edges: Array.from(edges),
    proportions: proportionsOf(binCounts(sorted, edges), n),
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

/** The score distribution of validation rows, with the decision and label rates. */
export function scoreProfile(scores: Float64Array, labels: Uint8Array): ScoreProfile {
  const { rows, mean, edges, proportions } = numericProfile(scores);
  let positive = 0;
  let predicted = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] === 1) positive++;
    if (scores[i] >= DECISION_THRESHOLD) predicted++;
  }
  return {
    rows,
    mean,
    edges,
    proportions,
    predictedPositiveRate: rows > 0 ? predicted / rows : NaN,
    positiveRate: rows > 0 ? positive / rows : NaN,
  };
}
