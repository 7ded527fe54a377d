/**
 * One codec per feature type: how a Column holds its values and how one value crosses every
 * boundary — the store tables' SQL type, binary COPY in and out, pg query parameters and results,
 * JSON, Arrow, and request values of on-demand features. Code that moves feature values looks the
 * codec up once per column (FEATURE_CODECS[type]) instead of switching on the type per value.
 */
import { Int64, TimestampMillisecond, type Vector } from 'apache-arrow';
import { parseIsoTimestamp } from '../definitions/timestamp-text.js';
import type { Column, FeatureType } from '../definitions/types.js';
import { boolVector, dictionaryVector, encodeStrings, float64Vector, int64Vector } from './arrow-columns.js';

/** A Column's value slot: numbers (int64, float64, epoch ms), 0/1 (bool) or text. */
type Slot = number | string;

/** What the binary COPY encoder offers a codec (offline/copy-binary.ts). */
export interface CopyWriter {
  float8(v: number): void;
  int8(v: number): void;
  timestamp(ms: number): void;
  bool(v: number): void;
  text(s: string): void;
}

export interface VectorOptions {
  /** Dictionary id of string columns, unique within a table (same data, same bytes). */
  dictionaryId: number;
  /** Rows to take (gather); default the first `length` rows. */
  rows?: Uint32Array;
  length: number;
  /** Names the column in errors. */
  label: string;
}

export interface FeatureCodec {
  /** Column type in the offline and online store tables. */
  sql: string;
  /** `rows` null slots (readers go by `valid`). */
  emptyValues(rows: number): Column['values'];
  /** A slot as a pg query parameter (array-typed parameters of online upserts). */
  toParam(value: Slot): unknown;
  /** A value pg returns for the SQL type, as a slot. */
  fromPg(value: unknown): Slot;
  /** A slot as JSON (served features, the prediction log). */
  toJson(value: Slot): string | number | boolean;
  /** A request value (JSON) of an on-demand view's field as a slot; throws a message when it does not fit. */
  fromRequest(value: unknown): Slot;
  /** Appends a slot in PostgreSQL's binary COPY format. */
  writeCopy(w: CopyWriter, value: Slot): void;
  /** A binary COPY value of `len` bytes at `p` (numeric types; text is decoded by its reader). */
  readCopy?(view: DataView, p: number, len: number, label: string): number;
  /** The column as an Arrow vector. */
  toVector(column: Column, opts: VectorOptions): Vector;
}

const PG_EPOCH_MS = 946_684_800_000;
const TWO_32 = 4_294_967_296;

/** A binary COPY value must have its type's width: anything else is a schema mismatch. */
export function expectWidth(label: string, len: number, width: number): void {
  if (len !== width)
    throw new Error(
      `offline COPY: column "${label}" has ${len}-byte values, expected ${width} (schema mismatch)`,
    );
}

/**
 * timestamptz is int64 microseconds since 2000-01-01. hi·2^32 + lo exceeds 2^53 beyond ±285 years,
 * so it is split as 1000·(hi·4294967) + (hi·296 + lo): both terms are exact doubles, and so is the
 * millisecond result for whole milliseconds.
 */
export function copyTimestampMs(view: DataView, p: number): number {
  const hi = view.getInt32(p);
  const lo = view.getUint32(p + 4);
  if (hi === 0x7fffffff && lo === 0xffffffff) return Infinity;
  if (hi === -0x80000000 && lo === 0) return -Infinity;
  return PG_EPOCH_MS + hi * 4_294_967 + (hi * 296 + lo) / 1000;
}

/** ISO text of epoch ms, memoized: served rows and logs repeat a few event times, and formatting one is slow. */
const isoTexts = new Map<number, string>();
export function isoTime(ms: number): string {
  let text = isoTexts.get(ms);
  if (text === undefined) {
    if (isoTexts.size >= 10_000) isoTexts.clear();
    isoTexts.set(ms, (text = new Date(ms).toISOString()));
  }
  return text;
}

const numbers = (rows: number) => new Float64Array(rows);
const finite = (value: unknown): number => {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error('expected a finite number');
  return value;
};
const numberVector = (type: Int64 | TimestampMillisecond) => (column: Column, o: VectorOptions) =>
  int64Vector(o.label, type, column.values as Float64Array, column.valid, o.length, o.rows);

export const FEATURE_CODECS: Record<FeatureType, FeatureCodec> = {
  float64: {
    sql: 'double precision',
    emptyValues: numbers,
    toParam: (v) => v,
    fromPg: (v) => Number(v),
    toJson: (v) => v,
    fromRequest: finite,
    writeCopy: (w, v) => w.float8(v as number),
    readCopy(view, p, len, label) {
      expectWidth(label, len, 8);
      return view.getFloat64(p);
    },
    toVector: (c, o) => float64Vector(c.values as Float64Array, c.valid, o.length, o.rows),
  },
  int64: {
    sql: 'bigint',
    emptyValues: numbers,
    toParam: (v) => v,
    // int8 comes back as a number (db/client.ts sets the parser); counts never exceed 2^53.
    fromPg: (v) => Number(v),
    toJson: (v) => v,
    fromRequest(value) {
      const v = finite(value);
      if (!Number.isSafeInteger(v)) throw new Error('expected an integer');
      return v;
    },
    writeCopy: (w, v) => w.int8(v as number),
    readCopy(view, p, len, label) {
      expectWidth(label, len, 8);
      const v = view.getInt32(p) * TWO_32 + view.getUint32(p + 4);
      if (!Number.isSafeInteger(v))
        throw new Error(
          `offline COPY: int64 feature "${label}" holds ${view.getBigInt64(p)}, beyond ±2^53 (not exactly representable)`,
        );
      return v;
    },
    toVector: numberVector(new Int64()),
  },
  timestamp: {
    sql: 'timestamptz',
    emptyValues: numbers,
    toParam: (v) => isoTime(v as number),
    fromPg: (v) => (v instanceof Date ? v.getTime() : Number(v)),
    toJson: (v) => isoTime(v as number),
    fromRequest(value) {
      const ms =
        typeof value === 'number' ? value : typeof value === 'string' ? parseIsoTimestamp(value) : NaN;
      if (!Number.isFinite(ms)) throw new Error('expected an ISO timestamp or epoch milliseconds');
      return ms;
    },
    writeCopy: (w, v) => w.timestamp(v as number),
    readCopy(view, p, len, label) {
      expectWidth(label, len, 8);
      return copyTimestampMs(view, p);
    },
    toVector: numberVector(new TimestampMillisecond('UTC')),
  },
  bool: {
    sql: 'boolean',
    emptyValues: (rows) => new Uint8Array(rows),
    toParam: (v) => v === 1,
    fromPg: (v) => (v ? 1 : 0),
    toJson: (v) => v === 1,
    fromRequest(value) {
      if (typeof value !== 'boolean') throw new Error('expected true or false');
      return value ? 1 : 0;
    },
    writeCopy: (w, v) => w.bool(v as number),
    readCopy(view, p, len, label) {
      expectWidth(label, len, 1);
      return view.getUint8(p);
    },
    toVector: (c, o) => boolVector(c.values as Uint8Array, c.valid, o.length, o.rows),
  },
  string: {
    sql: 'text',
    emptyValues: (rows) => new Array<string | null>(rows).fill(null),
    toParam: (v) => v,
    fromPg: (v) => String(v),
    toJson: (v) => v,
    fromRequest(value) {
      if (typeof value !== 'string') throw new Error('expected a string');
      return value;
    },
    writeCopy: (w, v) => w.text(v as string),
    toVector(c, o) {
      const { codes, dictionary } = encodeStrings(c.values as (string | null)[], c.valid, o.length, o.rows);
      return dictionaryVector(codes, dictionary, o.dictionaryId, o.length, o.rows);
    },
  },
};

/** `rows` nulls of a feature type, to be filled in place (values where `valid` is set). */
export function emptyColumn(type: FeatureType, rows: number): Column {
  return { type, values: FEATURE_CODECS[type].emptyValues(rows), valid: new Uint8Array(rows) };
}

/** A feature column as an Arrow vector: int64 → Int64, float64 → Float64, bool → Bool, timestamp → ms UTC, string → Dictionary<Utf8>. */
export function columnToVector(
  column: Column,
  opts: { dictionaryId: number; rows?: Uint32Array; length?: number; label?: string },
): Vector {
  const length = opts.rows ? opts.rows.length : (opts.length ?? column.valid.length);
  return FEATURE_CODECS[column.type].toVector(column, {
    dictionaryId: opts.dictionaryId,
    rows: opts.rows,
    length,
    label: opts.label ?? 'column',
  });
}
