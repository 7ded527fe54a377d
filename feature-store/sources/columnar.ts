/**
 * Shared decoding for all source readers: Arrow vectors → RawColumn (typed arrays, dictionary-encoded
 * strings), event-time extraction, and the SourceData object with its time index for select().
 *
 * Hot loops read Arrow's buffers directly (values, offsets, validity bitmaps) instead of calling
 * `vector.get(i)`, which allocates per row and dominates the cost on multi-million-row files.
 */
import {
  DataType,
  DateUnit,
  Precision,
  TimeUnit,
  Type,
  makeVector,
  type Data,
  type Table,
  type Vector,
} from 'apache-arrow';
import { parseTimestampText } from '../definitions/timestamp-text.js';
import type { Column, TimeRange } from '../definitions/types.js';
import { isUsableTime, SourceError, type RawColumn, type SourceData } from './source-data.js';

/** How a source's rows get their event time (the timing-related fields of a SourceDefinition). */
export interface EventTimeSpec {
  timestampField?: string;
  staticTimestamp?: string;
  createdTimestampField?: string;
}

/**
 * A source's columns without event times. Readers produce this; the cache shares one per file so
 * that views with different timestamp settings on the same file decode each column once.
 */
export interface ColumnSet {
  label: string;
  length: number;
  columnNames: string[];
  /** Memoized; throws SOURCE_SCHEMA naming the column and source when it does not exist. */
  column(name: string): RawColumn;
  malformed?: Map<number, string>;
}

/** Wraps a per-column decoder with the existence check and memoization every reader needs. */
export function makeColumnSet(
  label: string,
  length: number,
  columnNames: string[],
  decode: (name: string) => RawColumn,
  malformed?: Map<number, string>,
): ColumnSet {
  const known = new Set(columnNames);
  const decoded = new Map<string, RawColumn>();
  return {
    label,
    length,
    columnNames,
    malformed,
    column(name) {
      let col = decoded.get(name);
      if (col) return col;
      if (!known.has(name)) {
        throw new SourceError(
          'SOURCE_SCHEMA',
          `column "${name}" not found in ${label} (columns: ${columnNames.join(', ') || 'none'})`,
        );
      }
      col = decode(name);
      decoded.set(name, col);
      return col;
    },
  };
}

/** ColumnSet over an Arrow table; columns are decoded on first use. */
export function arrowColumnSet(table: Table, label: string): ColumnSet {
  const names = table.schema.fields.map((f) => f.name);
  const length = table.numRows;
  let source: Table | undefined = table;
  let pending = names.length;
  return makeColumnSet(label, length, names, (name) => {
    const col = decodeVector(source!.getChildAt(names.indexOf(name))!, length);
    // Once every column is decoded the Arrow buffers are dead weight in the cache: let them go.
    if (--pending === 0) source = undefined;
    return col;
  });
}

/** The message of a thrown value (wasm-bindgen throws plain strings as often as Errors). */
export function causeOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// Arrow → RawColumn

/** Grows a dictionary of strings; codes are dense 0..n-1 in first-seen order. */
export class StringDictionary {
  readonly map = new Map<string, number>();
  readonly values: string[] = [];

  code(s: string): number {
    let c = this.map.get(s);
    if (c === undefined) {
      c = this.values.length;
      this.map.set(s, c);
      this.values.push(s);
    }
    return c;
  }
}

type Kind = RawColumn['kind'];

function kindOf(typeId: Type, valueType?: { typeId: Type }): Kind | 'fallback' {
  switch (typeId) {
    case Type.Int:
    case Type.Float:
      return 'number';
    case Type.Bool:
      return 'bool';
    case Type.Timestamp:
    case Type.Date:
      return 'timestamp';
    case Type.Utf8:
    case Type.LargeUtf8:
    case Type.Null:
      return 'string';
    case Type.Dictionary:
      return valueType ? kindOf(valueType.typeId) : 'fallback';
    default:
      // Decimal, Time, Duration, nested, binary, views...: rendered as text; casting is done later.
      return 'fallback';
  }
}

/** Decodes a whole (possibly chunked) Arrow vector of `length` rows into one RawColumn. */
export function decodeVector(vector: Vector, length: number): RawColumn {
  const type = vector.type;
  const kind = kindOf(type.typeId, Type.Dictionary === type.typeId ? type.dictionary : undefined);
  if (kind === 'fallback') return decodeViaGet(vector, length);
  if (kind === 'string') {
    const codes = new Int32Array(length);
    const dict = new StringDictionary();
    const remaps = new Map<Vector, Remap>();
    let invalid: Uint8Array | undefined;
    const flag = (row: number) => ((invalid ??= new Uint8Array(length))[row] = 1);
    forChunks(vector, (d, base) => stringChunk(d, codes, base, dict, remaps, flag));
    return { kind: 'string', codes, dictionary: dict.values, ...(invalid ? { invalid } : {}) };
  }
  const valid = new Uint8Array(length);
  if (kind === 'bool') {
    const values = new Uint8Array(length);
    forChunks(vector, (d, base) =>
      isDict(d) ? gatherChunk(d, values, valid, base) : boolChunk(d, values, valid, base),
    );
    return { kind, values, valid };
  }
  const values = new Float64Array(length);
  if (kind === 'timestamp') {
    forChunks(vector, (d, base) =>
      isDict(d) ? gatherChunk(d, values, valid, base) : timestampChunk(d, values, valid, base),
    );
    return { kind, values, valid };
  }
  // Only int64 sources can be inexact; the flag array is kept only when something was flagged.
  const inexact = new Uint8Array(length);
  forChunks(vector, (d, base) =>
    isDict(d) ? gatherChunk(d, values, valid, base, inexact) : numberChunk(d, values, valid, base, inexact),
  );
  return inexact.includes(1) ? { kind, values, valid, inexact } : { kind, values, valid };
}

/**
 * A decoded column as a feature Column: text materialized from its dictionary (null where missing),
 * numbers typed as `numberType` (int64 or float64), bools and timestamps as they are.
 */
export function rawToColumn(raw: RawColumn, numberType: 'int64' | 'float64'): Column {
  switch (raw.kind) {
    case 'string': {
      const n = raw.codes.length;
      const values = new Array<string | null>(n);
      const valid = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const code = raw.codes[i];
        values[i] = code < 0 ? null : raw.dictionary[code];
        valid[i] = code < 0 ? 0 : 1;
      }
      return { type: 'string', values, valid };
    }
    case 'number':
      return { type: numberType, values: raw.values, valid: raw.valid };
    default:
      return { type: raw.kind, values: raw.values, valid: raw.valid };
  }
}

function forChunks(vector: Vector, fn: (d: Data, base: number) => void): void {
  let base = 0;
  for (const d of vector.data) {
    fn(d, base);
    base += d.length;
  }
}

function isDict(d: Data): boolean {
  return d.typeId === Type.Dictionary;
}

/** Fills valid[base..base+n) from the chunk's bitmap; returns whether the chunk has nulls. */
function fillValid(d: Data, valid: Uint8Array, base: number): boolean {
  const n = d.length;
  const bitmap = d.nullBitmap;
  if (d.typeId === Type.Null) {
    valid.fill(0, base, base + n);
    return true;
  }
  if (d.nullCount === 0 || !bitmap || bitmap.length === 0) {
    valid.fill(1, base, base + n);
    return false;
  }
  const off = d.offset;
  for (let i = 0; i < n; i++) {
    const p = off + i;
    valid[base + i] = (bitmap[p >> 3] >> (p & 7)) & 1;
  }
  return true;
}

const TWO_32 = 4294967296;
const TWO_21 = 2097152; // high word of 2^53

/**
 * 64-bit integers → doubles without a BigInt per value: reads the little-endian (lo, hi) 32-bit
 * halves (every platform Node runs on is little-endian). Values with |v| > 2^53 get flagged.
 */
function int64Chunk(
  values: BigInt64Array | BigUint64Array,
  n: number,
  signed: boolean,
  out: Float64Array,
  base: number,
  inexact: Uint8Array | null,
): void {
  const words = new Int32Array(values.buffer, values.byteOffset, n * 2);
  for (let i = 0; i < n; i++) {
    const lo = words[2 * i] >>> 0;
    const hi = signed ? words[2 * i + 1] : words[2 * i + 1] >>> 0;
    out[base + i] = hi * TWO_32 + lo;
    if (inexact && (hi > TWO_21 || (hi === TWO_21 && lo !== 0) || hi < -TWO_21)) inexact[base + i] = 1;
  }
}

function numberChunk(d: Data, out: Float64Array, valid: Uint8Array, base: number, inexact: Uint8Array): void {
  const n = d.length;
  const values = d.values as Float64Array | Int32Array | Uint16Array | BigInt64Array | BigUint64Array;
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    int64Chunk(values, n, values instanceof BigInt64Array, out, base, inexact);
  } else if (DataType.isFloat(d.type) && d.type.precision === Precision.HALF) {
    // Float16 is stored as raw halves; let Arrow convert (rare type, speed does not matter).
    const v = makeVector(d);
    for (let i = 0; i < n; i++) out[base + i] = v.get(i) as number;
  } else {
    // Every other int/float width converts exactly to a double in one typed-array copy.
    out.set(values.subarray(0, n), base);
  }
  if (fillValid(d, valid, base)) {
    for (let i = 0; i < n; i++) {
      if (!valid[base + i]) {
        out[base + i] = 0;
        inexact[base + i] = 0;
      }
    }
  }
}

function boolChunk(d: Data, out: Uint8Array, valid: Uint8Array, base: number): void {
  const n = d.length;
  const bits = d.values as Uint8Array;
  const off = d.offset; // bool data is bit-packed and not sliced: index with the offset
  for (let i = 0; i < n; i++) {
    const p = off + i;
    out[base + i] = (bits[p >> 3] >> (p & 7)) & 1;
  }
  if (fillValid(d, valid, base)) for (let i = 0; i < n; i++) if (!valid[base + i]) out[base + i] = 0;
}

/** Timestamp (any unit, any zone: the stored value is UTC) and Date32/Date64 → epoch ms, NaN if null. */
function timestampChunk(d: Data, out: Float64Array, valid: Uint8Array, base: number): void {
  const n = d.length;
  const type = d.type;
  const isDate = DataType.isDate(type);
  const unit = isDate ? type.unit : DataType.isTimestamp(type) ? type.unit : TimeUnit.MILLISECOND;
  if (isDate && unit === DateUnit.DAY) {
    const days = d.values as Int32Array;
    for (let i = 0; i < n; i++) out[base + i] = days[i] * 86_400_000;
  } else if (!isDate && unit === TimeUnit.NANOSECOND) {
    // Nanosecond epochs exceed 2^53, so divide exactly in BigInt (rare enough not to matter for speed).
    const ns = d.values as BigInt64Array;
    for (let i = 0; i < n; i++) {
      const v = ns[i];
      const q = v / 1_000_000n;
      out[base + i] = Number(v < 0n && q * 1_000_000n !== v ? q - 1n : q);
    }
  } else {
    int64Chunk(d.values as BigInt64Array, n, true, out, base, null);
    // Date64 is already in ms; DateUnit.MILLISECOND and TimeUnit.MILLISECOND are both 1.
    if (!isDate && unit === TimeUnit.SECOND) for (let i = 0; i < n; i++) out[base + i] *= 1000;
    else if (!isDate && unit === TimeUnit.MICROSECOND)
      for (let i = 0; i < n; i++) out[base + i] = Math.floor(out[base + i] / 1000);
  }
  if (fillValid(d, valid, base)) for (let i = 0; i < n; i++) if (!valid[base + i]) out[base + i] = NaN;
}

const utf8 = new TextDecoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A value's bytes as text; `onInvalid` hears when they are not UTF-8 (decoded with U+FFFD then). */
function decodeUtf8(bytes: Uint8Array, onInvalid: () => void): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    onInvalid();
    return utf8.decode(bytes);
  }
}

/** A chunk's decoded dictionary and its translation into the column's dictionary (-2: not yet). */
interface Remap {
  local: Extract<RawColumn, { kind: 'string' }>;
  toGlobal: Int32Array;
}

/** Utf8 / LargeUtf8 / Null / dictionary-of-strings chunk → column dictionary codes (-1 = null). */
function stringChunk(
  d: Data,
  codes: Int32Array,
  base: number,
  dict: StringDictionary,
  remaps: Map<Vector, Remap>,
  flagInvalid: (row: number) => void,
): void {
  const n = d.length;
  if (d.typeId === Type.Null) {
    codes.fill(-1, base, base + n);
    return;
  }
  // Null slots are skipped before coding, so their placeholder bytes never enter the dictionary.
  const bitmap = d.nullCount > 0 && d.nullBitmap && d.nullBitmap.length > 0 ? d.nullBitmap : null;
  const off = d.offset;
  if (d.typeId === Type.Dictionary) {
    // Batches usually share one dictionary: decode it once, translate entries on first use.
    let remap = remaps.get(d.dictionary!);
    if (!remap) {
      const local = decodeVector(d.dictionary!, d.dictionary!.length) as Extract<
        RawColumn,
        { kind: 'string' }
      >;
      remap = { local, toGlobal: new Int32Array(local.dictionary.length).fill(-2) };
      remaps.set(d.dictionary!, remap);
    }
    const { local, toGlobal } = remap;
    const indices = d.values as Int32Array;
    for (let i = 0; i < n; i++) {
      const p = off + i;
      const index = Number(indices[i]);
      const c = bitmap && !((bitmap[p >> 3] >> (p & 7)) & 1) ? -1 : local.codes[index];
      if (c >= 0 && local.invalid?.[index] === 1) flagInvalid(base + i);
      if (c >= 0 && toGlobal[c] === -2) toGlobal[c] = dict.code(local.dictionary[c]);
      codes[base + i] = c < 0 ? -1 : toGlobal[c];
    }
    return;
  }
  const offsets = d.valueOffsets as Int32Array | BigInt64Array;
  const starts = offsets instanceof BigInt64Array ? largeOffsets(offsets, n) : offsets;
  const bytes = d.values as Uint8Array;
  const first = starts[0];
  const last = starts[n];
  // For ASCII (the common case), decode the chunk once: byte offsets are then string offsets.
  const text = isAscii(bytes, first, last)
    ? Buffer.from(bytes.buffer, bytes.byteOffset + first, last - first).toString('latin1')
    : null;
  for (let i = 0; i < n; i++) {
    const p = off + i;
    if (bitmap && !((bitmap[p >> 3] >> (p & 7)) & 1)) codes[base + i] = -1;
    else if (text !== null) codes[base + i] = dict.code(text.slice(starts[i] - first, starts[i + 1] - first));
    else
      codes[base + i] = dict.code(
        decodeUtf8(bytes.subarray(starts[i], starts[i + 1]), () => flagInvalid(base + i)),
      );
  }
}

function largeOffsets(offsets: BigInt64Array, n: number): Float64Array {
  const out = new Float64Array(n + 1);
  int64Chunk(offsets, n + 1, true, out, 0, null);
  return out;
}

function isAscii(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] & 0x80) return false;
  return true;
}

/** Batches usually share their dictionary vector: decode it once. */
const decodedDictionaries = new WeakMap<Vector, RawColumn>();

/** Dictionary-encoded chunk of non-string values: decode the chunk's dictionary, then gather. */
function gatherChunk(
  d: Data,
  out: Float64Array | Uint8Array,
  valid: Uint8Array,
  base: number,
  inexact?: Uint8Array,
): void {
  let local = decodedDictionaries.get(d.dictionary!) as Exclude<RawColumn, { kind: 'string' }> | undefined;
  if (!local) {
    local = decodeVector(d.dictionary!, d.dictionary!.length) as Exclude<RawColumn, { kind: 'string' }>;
    decodedDictionaries.set(d.dictionary!, local);
  }
  const localInexact = local.kind === 'number' ? local.inexact : undefined;
  const empty = local.kind === 'timestamp' ? NaN : 0;
  const indices = d.values as Int32Array;
  fillValid(d, valid, base);
  for (let i = 0; i < d.length; i++) {
    const k = Number(indices[i]);
    const ok = valid[base + i] === 1 && local.valid[k] === 1;
    valid[base + i] = ok ? 1 : 0;
    out[base + i] = ok ? local.values[k] : empty;
    if (inexact && localInexact && ok) inexact[base + i] = localInexact[k];
  }
}

/**
 * Types without a typed-array fast path (decimal, time of day, duration, binary, nested...) become
 * dictionary-encoded text; the later cast to the declared feature type decides what is valid.
 */
function decodeViaGet(vector: Vector, length: number): RawColumn {
  const codes = new Int32Array(length);
  const dict = new StringDictionary();
  let i = 0;
  for (const v of vector) {
    codes[i++] = v === null || v === undefined ? -1 : dict.code(textOf(v));
  }
  return { kind: 'string', codes, dictionary: dict.values };
}

function textOf(v: unknown): string {
  if (typeof v !== 'object') return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
}

// ---------------------------------------------------------------------------------------------
// Event times

/** Event time of a static source's rows; rejects an unparseable staticTimestamp up front. */
export function staticEventTime(staticTimestamp: string | undefined, label: string): number {
  const ts = parseTimestampText(staticTimestamp ?? '1970-01-01T00:00:00Z');
  if (Number.isNaN(ts)) {
    throw new SourceError(
      'SOURCE_SCHEMA',
      `invalid staticTimestamp ${JSON.stringify(staticTimestamp)} for ${label}`,
    );
  }
  return ts;
}

/**
 * Event times from a column: timestamps as is, numbers as epoch ms (inexact int64 → NaN), text
 * parsed once per distinct value. Nulls become NaN, so those rows count as untimed.
 */
export function eventTimesFromColumn(col: RawColumn, field: string, label: string): Float64Array {
  if (col.kind === 'string') {
    const parsed = new Float64Array(col.dictionary.length);
    for (let k = 0; k < parsed.length; k++) parsed[k] = parseTimestampText(col.dictionary[k]);
    const out = new Float64Array(col.codes.length);
    for (let i = 0; i < out.length; i++) {
      const c = col.codes[i];
      out[i] = c < 0 ? NaN : parsed[c];
    }
    return out;
  }
  if (col.kind === 'bool') {
    throw new SourceError('SOURCE_SCHEMA', `timestamp column "${field}" in ${label} is boolean`);
  }
  const out = Float64Array.from(col.values);
  const inexact = col.kind === 'number' ? col.inexact : undefined;
  for (let i = 0; i < out.length; i++) if (!col.valid[i] || (inexact && inexact[i])) out[i] = NaN;
  return out;
}

/** Adds event times (from `timing`) and the time index to a column set. */
export function withEventTime(columns: ColumnSet, timing: EventTimeSpec): SourceData {
  const timesOf = (field: string, what: string) => {
    if (!columns.columnNames.includes(field)) {
      throw new SourceError(
        'SOURCE_SCHEMA',
        `${what} column "${field}" not found in ${columns.label} (columns: ${columns.columnNames.join(', ') || 'none'})`,
      );
    }
    return eventTimesFromColumn(columns.column(field), field, columns.label);
  };
  let eventTs: Float64Array;
  if (timing.timestampField !== undefined) {
    eventTs = timesOf(timing.timestampField, 'timestamp');
  } else {
    eventTs = new Float64Array(columns.length).fill(staticEventTime(timing.staticTimestamp, columns.label));
  }
  let index: TimeIndex | undefined;
  const data: SourceData = {
    label: columns.label,
    length: columns.length,
    columnNames: columns.columnNames,
    column: (name) => columns.column(name),
    eventTs,
    ...(timing.createdTimestampField === undefined
      ? {}
      : { createdTs: timesOf(timing.createdTimestampField, 'created timestamp') }),
    select(range, includeUntimed = false) {
      index ??= buildTimeIndex(eventTs);
      return selectRange(index, range, includeUntimed);
    },
  };
  if (columns.malformed) data.malformed = columns.malformed;
  return data;
}

// ---------------------------------------------------------------------------------------------
// Time index: built once per SourceData, then every select() is two binary searches and a copy.

interface TimeIndex {
  /** Event times of the timed rows, ascending. */
  sortedTs: Float64Array;
  /** Row positions matching sortedTs (ties in position order). */
  order: Uint32Array;
  /** Positions of rows with NaN or out-of-range event time, ascending. */
  untimed: Uint32Array;
}

export function buildTimeIndex(eventTs: Float64Array): TimeIndex {
  const n = eventTs.length;
  let timedCount = 0;
  for (let i = 0; i < n; i++) {
    const t = eventTs[i];
    if (isUsableTime(t)) timedCount++;
  }
  const order = new Uint32Array(timedCount);
  const untimed = new Uint32Array(n - timedCount);
  let sorted = true;
  let prev = -Infinity;
  for (let i = 0, a = 0, b = 0; i < n; i++) {
    const t = eventTs[i];
    if (isUsableTime(t)) {
      order[a++] = i;
      if (t < prev) sorted = false;
      prev = t;
    } else {
      untimed[b++] = i;
    }
  }
  // Files are often already in time order: then the positions are the answer.
  if (!sorted) radixSortByTime(order, eventTs);
  const sortedTs = new Float64Array(timedCount);
  for (let j = 0; j < timedCount; j++) sortedTs[j] = eventTs[order[j]];
  return { sortedTs, order, untimed };
}

/**
 * Stable LSD radix sort of `order` by eventTs (16-bit digits over the 64-bit key): O(n), no
 * comparator calls, and stability keeps equal times in position order. The key is the double's bit
 * pattern made order-preserving (flip all bits of negatives, the sign bit of the rest).
 */
function radixSortByTime(order: Uint32Array, eventTs: Float64Array): void {
  const n = order.length;
  const scratch = new Float64Array(1);
  const bits = new Uint32Array(scratch.buffer);
  let hi = new Uint32Array(n);
  let lo = new Uint32Array(n);
  for (let j = 0; j < n; j++) {
    scratch[0] = eventTs[order[j]] + 0; // + 0 turns -0 into 0
    const neg = bits[1] >>> 31;
    lo[j] = neg ? ~bits[0] >>> 0 : bits[0];
    hi[j] = neg ? ~bits[1] >>> 0 : (bits[1] | 0x80000000) >>> 0;
  }
  let ord = order;
  let ordTmp: Uint32Array = new Uint32Array(n);
  let hiTmp = new Uint32Array(n);
  let loTmp = new Uint32Array(n);
  const counts = new Uint32Array(65536);
  for (let pass = 0; pass < 4; pass++) {
    const word = pass < 2 ? lo : hi;
    const shift = pass % 2 === 0 ? 0 : 16;
    counts.fill(0);
    for (let j = 0; j < n; j++) counts[(word[j] >>> shift) & 0xffff]++;
    if (counts[(word[0] >>> shift) & 0xffff] === n) continue; // every key has this digit: nothing to do
    let sum = 0;
    for (let k = 0; k < 65536; k++) {
      const c = counts[k];
      counts[k] = sum;
      sum += c;
    }
    for (let j = 0; j < n; j++) {
      const dest = counts[(word[j] >>> shift) & 0xffff]++;
      ordTmp[dest] = ord[j];
      hiTmp[dest] = hi[j];
      loTmp[dest] = lo[j];
    }
    [ord, ordTmp] = [ordTmp, ord];
    [hi, hiTmp] = [hiTmp, hi];
    [lo, loTmp] = [loTmp, lo];
  }
  if (ord !== order) order.set(ord);
}

/** First index j with sorted[j] >= value. */
function lowerBound(sorted: Float64Array, value: number): number {
  let a = 0;
  let b = sorted.length;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (sorted[mid] < value) a = mid + 1;
    else b = mid;
  }
  return a;
}

function selectRange(index: TimeIndex, range: TimeRange, includeUntimed: boolean): Uint32Array {
  const from = lowerBound(index.sortedTs, range.startMs);
  const to = range.endMs > range.startMs ? Math.max(from, lowerBound(index.sortedTs, range.endMs)) : from;
  const extra = includeUntimed ? index.untimed.length : 0;
  const out = new Uint32Array(to - from + extra);
  out.set(index.order.subarray(from, to));
  if (extra) out.set(index.untimed, to - from);
  return out;
}
