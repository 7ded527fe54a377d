/**
 * Shared types of the feature store: definitions as code (serializable, versioned by fingerprint)
 * (types inferred from the zod schemas in schemas.ts) and the columnar frames that flow between
 * sources, transformations and stores.
 */
import type { z } from 'zod';
import type {
  aggregationSchema,
  entitySchema,
  featureSpecSchema,
  featureTypeSchema,
  featureViewSpecSchema,
  sourceSchema,
  windowTransformSchema,
} from './schemas.js';

export type FeatureType = z.infer<typeof featureTypeSchema>;
export type EntityDefinition = z.infer<typeof entitySchema>;
export type SourceDefinition = z.infer<typeof sourceSchema>;
export type FeatureSpec = z.infer<typeof featureSpecSchema>;
export type AggregationSpec = z.infer<typeof aggregationSchema>;
export type AggregationFn = AggregationSpec['fn'];
export type CompareOp = NonNullable<AggregationSpec['compare']>['op'];
export type WindowTransform = z.infer<typeof windowTransformSchema>;
export type FeatureViewDefinition = { kind: 'featureView' } & z.infer<typeof featureViewSpecSchema>;

export interface FeatureField {
  name: string;
  type: FeatureType;
}

/**
 * In-memory column. int64 and timestamp (epoch ms) values are held in Float64Array: int64 values
 * beyond ±2^53 are quarantined rather than silently rounded. bool is 0/1 in a Uint8Array.
 * `valid[i]` is 1 when row i is not null.
 */
export interface Column {
  type: FeatureType;
  values: Float64Array | Uint8Array | (string | null)[];
  valid: Uint8Array;
}

/** Columnar rows ready for the stores: one entity key and event time per row, features by name. */
export interface FeatureFrame {
  length: number;
  entityKey: string[];
  /** Event time, epoch milliseconds. */
  eventTs: Float64Array;
  /** Created time per row, epoch ms, from the source's createdTimestampField; else the materialization time. */
  createdTs?: Float64Array;
  columns: Record<string, Column>;
}

/** A source row that failed validation, kept with the reason (never dropped silently). */
export interface QuarantinedRow {
  /** 0-based row index in the source (file row, or row in the table's scan order). */
  position: number;
  reason: string;
  /** The raw values, JSON-safe (bigint as string), for operators to inspect. */
  row: Record<string, unknown>;
}

/** Half-open time range [startMs, endMs) in epoch milliseconds. */
export interface TimeRange {
  startMs: number;
  endMs: number;
}
