import {
  Bool,
  Dictionary,
  Float64,
  Int32,
  Int64,
  makeData,
  makeVector,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import type { RawColumn } from './sources/source-data.js';
import type { Column } from './types.js';

/*
 * Typed columns → Arrow vectors without per-row objects. `rows` optionally selects (gathers) rows.
 * `dictionaryId` must be unique within a table (Arrow rejects two dictionaries with one id) and is
 * explicit so that the same data always gives the same bytes (Arrow's own counter is global).
 */
function validityBitmap(valid: (i: number) => boolean, n: number): { bitmap: Uint8Array; nullCount: number } {
  const bitmap = new Uint8Array((n + 7) >> 3);
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    if (valid(i)) bitmap[i >> 3] |= 1 << (i & 7);
    else nullCount++;
  }
  return { bitmap, nullCount };
}

const identity = (n: number) => ({ length: n, at: (i: number) => i });
type Selection = { length: number; at: (i: number) => number };
const select = (length: number, rows?: Uint32Array): Selection =>
  rows ? { length: rows.length, at: (i) => rows[i] } : identity(length);

function numericVector(
  type: Float64 | Int64 | TimestampMillisecond,
  values: Float64Array,
  valid: Uint8Array,
  sel: Selection,
): Vector {
  const n = sel.length;
  const { bitmap, nullCount } = validityBitmap((i) => valid[sel.at(i)] === 1, n);
  if (type instanceof Float64) {
    const data = new Float64Array(n);
    for (let i = 0; i < n; i++) data[i] = values[sel.at(i)];
    return makeVector(makeData({ type, length: n, data, nullBitmap: bitmap, nullCount }));
  }
  const data = new BigInt64Array(n);
  for (let i = 0; i < n; i++) if (valid[sel.at(i)]) data[i] = BigInt(Math.round(values[sel.at(i)]));
  // makeData's overloads are per concrete type; Int64 and TimestampMillisecond both take BigInt64Array.
  return makeVector(makeData({ type: type as Int64, length: n, data, nullBitmap: bitmap, nullCount }));
}

function boolVector(values: Uint8Array, valid: Uint8Array, sel: Selection): Vector {
  const n = sel.length;
  const { bitmap, nullCount } = validityBitmap((i) => valid[sel.at(i)] === 1, n);
  const data = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < n; i++) if (values[sel.at(i)]) data[i >> 3] |= 1 << (i & 7);
  return makeVector(makeData({ type: new Bool(), length: n, data, nullBitmap: bitmap, nullCount }));
}

function dictionaryVector(
  codes: Int32Array,
  dictionary: string[],
  sel: Selection,
  dictionaryId: number,
): Vector {
  const n = sel.length;
  const data = new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.max(0, codes[sel.at(i)]);
  const { bitmap, nullCount } = validityBitmap((i) => codes[sel.at(i)] >= 0, n);
  return makeVector(
    makeData({
      // An explicit id: arrow assigns a process-global counter otherwise, so bytes would differ per run.
      type: new Dictionary(new Utf8(), new Int32(), dictionaryId),
      length: n,
      data,
      nullBitmap: bitmap,
      nullCount,
      dictionary: vectorFromArray(dictionary, new Utf8()),
    }),
  );
}

/** A feature column as an Arrow vector: int64 → Int64, float64 → Float64, timestamp → ms, string → Dictionary<Utf8>. */
export function columnToVector(column: Column, dictionaryId: number, rows?: Uint32Array): Vector {
  const sel = select(column.valid.length, rows);
  switch (column.type) {
    case 'float64':
      return numericVector(new Float64(), column.values as Float64Array, column.valid, sel);
    case 'int64':
      return numericVector(new Int64(), column.values as Float64Array, column.valid, sel);
    case 'timestamp':
      return numericVector(new TimestampMillisecond('UTC'), column.values as Float64Array, column.valid, sel);
    case 'bool':
      return boolVector(column.values as Uint8Array, column.valid, sel);
    case 'string': {
      // Dictionary-encoded: one Utf8 entry per distinct value (vectorFromArray is ~100x slower at 1M+ rows).
      const values = column.values as (string | null)[];
      const codes = new Int32Array(column.valid.length).fill(-1);
      const dictionary: string[] = [];
      const seen = new Map<string, number>();
      for (let i = 0; i < sel.length; i++) {
        const r = sel.at(i);
        const value = values[r];
        if (!column.valid[r] || value === null) continue;
        let code = seen.get(value);
        if (code === undefined) {
          code = dictionary.push(value) - 1;
          seen.set(value, code);
        }
        codes[r] = code;
      }
      return dictionaryVector(codes, dictionary, sel, dictionaryId);
    }
  }
}

/** A decoded source column as an Arrow vector (numbers as Float64, strings dictionary-encoded). */
export function rawColumnToVector(
  raw: RawColumn,
  length: number,
  dictionaryId: number,
  rows?: Uint32Array,
): Vector {
  const sel = select(length, rows);
  switch (raw.kind) {
    case 'number':
      return numericVector(new Float64(), raw.values, raw.valid, sel);
    case 'timestamp':
      return numericVector(new TimestampMillisecond('UTC'), raw.values, raw.valid, sel);
    case 'bool':
      return boolVector(raw.values, raw.valid, sel);
    case 'string':
      return dictionaryVector(raw.codes, raw.dictionary, sel, dictionaryId);
  }
}
