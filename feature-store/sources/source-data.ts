import type { TimeRange } from '../definitions/types.js';

/** Event times outside [MIN_EVENT_TS, MAX_EVENT_TS) are "out of range" and quarantined. */
export const MIN_EVENT_TS = Date.UTC(1900, 0, 1);
export const MAX_EVENT_TS = Date.UTC(2200, 0, 1);

/** Whether a row's time is usable: within [MIN_EVENT_TS, MAX_EVENT_TS) (NaN, a missing time, is not). */
export const isUsableTime = (ts: number) => ts >= MIN_EVENT_TS && ts < MAX_EVENT_TS;

/**
 * A source column decoded once into typed arrays. Strings are dictionary-encoded (code -1 = null),
 * so grouping by entity key works on integers. Numbers from int64 sources that do not fit a double
 * exactly are flagged in `inexact` (quarantined, never silently rounded).
 */
export type RawColumn =
  | { kind: 'number'; values: Float64Array; valid: Uint8Array; inexact?: Uint8Array }
  | { kind: 'bool'; values: Uint8Array; valid: Uint8Array }
  | { kind: 'timestamp'; values: Float64Array; valid: Uint8Array }
  | {
      kind: 'string';
      codes: Int32Array;
      dictionary: string[];
      /**
       * 1 where the value's bytes in the source were not valid UTF-8 (decoded with U+FFFD in their
       * place): such a value is quarantined, never stored altered. Absent when every value was valid.
       */
      invalid?: Uint8Array;
    };

/**
 * A source decoded into columns, kept in a per-process cache keyed by the file's identity
 * (path, size, mtime) so that the chunks of one materialization read the file once.
 */
export interface SourceData {
  /** Human-readable origin, e.g. the resolved file path or `postgres:public.flights`. */
  label: string;
  length: number;
  /** Column names in source order. */
  columnNames: string[];
  /** Decodes (and caches) a column; throws a SourceError naming the column if it does not exist. */
  column(name: string): RawColumn;
  /** Event time per row in epoch ms; NaN where missing or unparseable. */
  eventTs: Float64Array;
  /** Created time per row (epoch ms, NaN where missing) when the source names a createdTimestampField. */
  createdTs?: Float64Array;
  /**
   * Row indices (0-based source positions) whose event time lies in `range`, ascending by event
   * time (ties by position). With `includeUntimed`, rows whose event time is NaN or outside
   * [MIN_EVENT_TS, MAX_EVENT_TS) are appended, so that exactly one chunk quarantines them.
   */
  select(range: TimeRange, includeUntimed?: boolean): Uint32Array;
  /**
   * Rows the reader could only partly parse (CSV rows with too few or too many fields, broken
   * quoting), by position → reason. They are still present (missing fields null, extras dropped)
   * so positions stay aligned; consumers quarantine them instead of producing features.
   */
  malformed?: Map<number, string>;
}

export type SourceErrorCode = 'SOURCE_MISSING' | 'SOURCE_CORRUPT' | 'SOURCE_SCHEMA';

/** A source that cannot be read at all; retrying does not help (non-retryable in activities). */
export class SourceError extends Error {
  constructor(
    readonly code: SourceErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SourceError';
  }
}
