import {
  Bool,
  Dictionary,
  Float64,
  Int32,
  type Int64,
  makeData,
  makeVector,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import type { RawColumn } from '../sources/source-data.js';

/*
 * Typed columns → Arrow vectors without per-row objects: the one place that builds Arrow data for
 * exports, spines and training sets. `rows` optionally selects (gathers) rows; without it the first
 * `n` rows are taken. `dictionaryId` must be unique within a table (Arrow rejects two dictionaries
 * with one id) and is explicit so that the same data always gives the same bytes (Arrow's own
 * counter is process-global).
 */

const TWO_32 = 4_294_967_296;

/** Arrow validity bitmap; omitted when nothing is null. */
function validity(
  isValid: (row: number) => boolean,
  n: number,
  rows?: Uint32Array,
): { nullBitmap?: Uint8Array; nullCount: number } {
  const nullBitmap = new Uint8Array((n + 7) >> 3);
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    if (isValid(rows ? rows[i] : i)) nullBitmap[i >> 3] |= 1 << (i & 7);
    else nullCount++;
  }
  return nullCount ? { nullBitmap, nullCount } : { nullCount: 0 };
}

const flags = (valid: Uint8Array | undefined) => (valid ? (r: number) => valid[r] === 1 : () => true);

export function float64Vector(
  values: Float64Array,
  valid: Uint8Array | undefined,
  n: number,
  rows?: Uint32Array,
) {
  let data: Float64Array;
  if (rows) {
    data = new Float64Array(n);
    for (let i = 0; i < n; i++) data[i] = values[rows[i]];
  } else {
    data = values.subarray(0, n);
  }
  return makeVector(makeData({ type: new Float64(), length: n, data, ...validity(flags(valid), n, rows) }));
}

/** Int64/timestamp as two little-endian 32-bit words per value: a BigInt per value costs ~10x more. */
export function int64Vector(
  label: string,
  type: Int64 | TimestampMillisecond,
  values: Float64Array,
  valid: Uint8Array | undefined,
  n: number,
  rows?: Uint32Array,
): Vector {
  const data = new BigInt64Array(n);
  const words = new Int32Array(data.buffer);
  for (let i = 0; i < n; i++) {
    const r = rows ? rows[i] : i;
    if (valid && !valid[r]) continue;
    const v = Math.round(values[r]);
    if (!Number.isFinite(v))
      throw new Error(`cannot write ${label}: value ${values[r]} at row ${r} is not finite`);
    const high = Math.floor(v / TWO_32);
    words[2 * i] = v - high * TWO_32;
    words[2 * i + 1] = high;
  }
  // makeData's overloads are per concrete type; Int64 and TimestampMillisecond both take BigInt64Array.
  return makeVector(makeData({ type: type as Int64, length: n, data, ...validity(flags(valid), n, rows) }));
}

export function boolVector(values: Uint8Array, valid: Uint8Array, n: number, rows?: Uint32Array): Vector {
  const data = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < n; i++) if (values[rows ? rows[i] : i]) data[i >> 3] |= 1 << (i & 7);
  return makeVector(makeData({ type: new Bool(), length: n, data, ...validity(flags(valid), n, rows) }));
}

export function dictionaryVector(
  codes: Int32Array,
  dictionary: string[],
  dictionaryId: number,
  n: number,
  rows?: Uint32Array,
): Vector {
  const data = new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.max(0, codes[rows ? rows[i] : i]);
  return makeVector(
    makeData({
      type: new Dictionary(new Utf8(), new Int32(), dictionaryId),
      length: n,
      data,
      ...validity((r) => codes[r] >= 0, n, rows),
      dictionary: vectorFromArray(dictionary, new Utf8()),
    }),
  );
}

/** Dictionary codes of a string column (-1 = null), one entry per distinct value. */
export function encodeStrings(values: (string | null)[], valid: Uint8Array, n: number, rows?: Uint32Array) {
  const codes = new Int32Array(valid.length).fill(-1);
  const dictionary: string[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = rows ? rows[i] : i;
    const value = values[r];
    if (!valid[r] || value === null) continue;
    let code = seen.get(value);
    if (code === undefined) {
      code = dictionary.push(value) - 1;
      seen.set(value, code);
    }
    codes[r] = code;
  }
  return { codes, dictionary };
}

/**
 * Utf8 built directly (offsets + one byte buffer): Arrow's generic builder (vectorFromArray) takes
 * seconds for millions of strings.
 */
export function utf8Vector(values: (string | null)[], valid: Uint8Array, n: number): Vector {
  const valueOffsets = new Int32Array(n + 1);
  let bytes = Buffer.allocUnsafe(Math.max(64, n * 8));
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const s = valid[i] ? values[i] : null;
    if (s) {
      // A UTF-16 code unit takes at most 3 UTF-8 bytes.
      if (pos + s.length * 3 > bytes.length) {
        const next = Buffer.allocUnsafe(Math.max(bytes.length * 2, pos + s.length * 3));
        bytes.copy(next, 0, 0, pos);
        bytes = next;
      }
      pos += bytes.write(s, pos, 'utf8');
      if (pos > 0x7fffffff) throw new Error('cannot write more than 2 GiB of text in one string column');
    }
    valueOffsets[i + 1] = pos;
  }
  const data = bytes.subarray(0, pos);
  return makeVector(
    makeData({ type: new Utf8(), length: n, data, valueOffsets, ...validity(flags(valid), n) }),
  );
}

export interface ColumnVectorOptions {
  /** Required for string columns (Dictionary<Utf8>); unused by other types. */
  dictionaryId: number;
  rows?: Uint32Array;
  /** Rows to take when `rows` is not given (default: all). */
  length?: number;
  /** Column name, for errors. */
  label?: string;
}

/** A decoded source column (numbers as Float64, timestamps ms UTC, strings dictionary-encoded). */
export function rawColumnToVector(raw: RawColumn, length: number, opts: ColumnVectorOptions): Vector {
  const { rows, label = 'column' } = opts;
  const n = rows ? rows.length : length;
  switch (raw.kind) {
    case 'number':
      return float64Vector(raw.values, raw.valid, n, rows);
    case 'timestamp':
      return int64Vector(label, new TimestampMillisecond('UTC'), raw.values, raw.valid, n, rows);
    case 'bool':
      return boolVector(raw.values, raw.valid, n, rows);
    case 'string':
      return dictionaryVector(raw.codes, raw.dictionary, opts.dictionaryId, n, rows);
  }
}
