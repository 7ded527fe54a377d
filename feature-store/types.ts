/**
 * Shared types of the feature store: definitions as code (serializable, versioned by fingerprint)
 * and the columnar frames that flow between sources, transformations and stores.
 */

export type FeatureType = 'int64' | 'float64' | 'bool' | 'string' | 'timestamp';

export interface EntityDefinition {
  kind: 'entity';
  name: string;
  /** Name of the key users pass at lookup time, e.g. `airport` or `route`. */
  joinKey: string;
  description?: string;
}

/**
 * Where a view's rows come from. `path` is resolved against the data root (KAIZEN_DATA_ROOT,
 * default: the working directory) when relative. Without `timestampField` every row gets
 * `staticTimestamp` (default 1970-01-01T00:00:00Z) as its event time: a static view.
 */
export type SourceDefinition =
  | { kind: 'parquet'; path: string; timestampField?: string; staticTimestamp?: string }
  | { kind: 'arrow'; path: string; timestampField?: string; staticTimestamp?: string }
  | { kind: 'csv'; path: string; timestampField?: string; staticTimestamp?: string; delimiter?: string }
  | { kind: 'postgres'; table: string; schema?: string; timestampField?: string; staticTimestamp?: string };

export interface FeatureSpec {
  type: FeatureType;
  /** Source column; defaults to the feature name. */
  column?: string;
  /** NaN/±Infinity are quarantined unless allowed. */
  allowNonFinite?: boolean;
}

export type AggregationFn = 'count' | 'sum' | 'mean' | 'min' | 'max' | 'last';
export type CompareOp = '>' | '>=' | '<' | '<=' | '==' | '!=';

export interface AggregationSpec {
  /** Output features are named `<name>_<window>`, e.g. `mean_delay_24h`. */
  name: string;
  fn: AggregationFn;
  /** Numeric source column; not needed for `count`. */
  column?: string;
  /** When set, the aggregated value is 1 if `column op value`, else 0 (e.g. fraction delayed > 15). */
  compare?: { op: CompareOp; value: number };
}

/**
 * Hopping-window aggregation. At every hop boundary `t` (a multiple of `hop` since the Unix epoch,
 * UTC) and for every window `w`, an aggregate covers source events with `t - w <= event_ts < t`
 * (half-open: an event at `t` itself is not yet part of the row stamped `t`, so a feature row never
 * includes the event being predicted). A row is emitted at `t` for an entity when it has at least one
 * event in its largest window. Windows must be multiples of the hop.
 */
export interface WindowTransform {
  kind: 'window';
  hop: string;
  windows: string[];
  aggregations: AggregationSpec[];
}

export interface FeatureViewDefinition {
  kind: 'featureView';
  name: string;
  entities: EntityDefinition[];
  /**
   * Source column(s) holding each entity's key, by entity name; default: the column named like the
   * entity's join key. Several columns are joined with '-' (route = `origin-destination`).
   */
  entityColumns?: Record<string, string | string[]>;
  source: SourceDefinition;
  /** Duration such as '2h' or '7d'; absent means unbounded. */
  ttl?: string;
  /** Plain (projection) views: features by name. Exactly one of `features` and `transform`. */
  features?: Record<string, FeatureSpec | FeatureType>;
  transform?: WindowTransform;
  description?: string;
  tags?: Record<string, string>;
}

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
