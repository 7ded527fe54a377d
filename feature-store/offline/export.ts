/**
 * Reads a feature-view version's offline rows back out of Postgres, columnar and fast: one binary
 * COPY whose stream is decoded incrementally straight into typed arrays (no per-row objects, no text
 * parsing of numbers or timestamps), and converts them to and from Arrow for export files.
 */
import {
  Dictionary,
  Int32,
  makeData,
  makeVector,
  Table,
  TimestampMillisecond,
  Type,
  Utf8,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import pg from 'pg';
import { withPooledClient } from '../../db/client.js';
import { to as copyTo } from 'pg-copy-streams';
import { int64Vector, utf8Vector } from '../columns/arrow-columns.js';
import {
  columnToVector,
  copyTimestampMs,
  expectWidth,
  FEATURE_CODECS,
  type FeatureCodec,
} from '../columns/codecs.js';
import { grown, Utf8Interner } from '../columns/copy-buffers.js';
import { writeArrowFileAtomic } from './atomic-file.js';
import type { FeatureRows } from './feature-rows.js';
import { quoteIdent } from '../definitions/identifiers.js';
import { decodeVector, rawToColumn } from '../sources/columnar.js';
import type { RawColumn } from '../sources/source-data.js';
import type { ViewVersion } from '../registry/types.js';
import { offlineTable } from '../registry/store-tables.js';
import type { Column, FeatureField, FeatureType } from '../definitions/types.js';
import { InvalidInputError } from '../definitions/errors.js';

export type { FeatureRows } from './feature-rows.js';

export interface OfflineRowFilter {
  /** Inclusive lower bound on event_ts, epoch ms. */
  startMs?: number;
  /** Exclusive upper bound on event_ts, epoch ms. */
  endMs?: number;
  entityKeys?: string[];
}

// ---------------------------------------------------------------------------------------------
// Query

/** Columns in COPY order: the decoder below relies on it. */
const LEADING_COLUMNS = ['entity_key', 'event_ts', 'created_ts', 'ingest_seq'];
const LEADING = LEADING_COLUMNS.length;

/** Timestamp literal from a number we format ourselves (ISO 8601, 4-digit year, UTC). */
function timestampLiteral(label: string, ms: number): string {
  const iso = Number.isFinite(ms) ? new Date(ms).toISOString() : '';
  if (!/^\d{4}-/.test(iso))
    throw new InvalidInputError(`invalid ${label} ${ms}: expected epoch ms within years 0000-9999`);
  return `${pg.escapeLiteral(iso)}::timestamptz`;
}

/**
 * The COPY statement. COPY cannot take bind parameters, so filter values are spliced as literals:
 * timestamps are ISO strings generated here from numbers, entity keys (user input) go through pg's
 * escapeLiteral (quotes doubled, backslashes in an E'' literal: safe whatever
 * standard_conforming_strings is). Identifiers come from the registry, which validated them, and are
 * quoted anyway.
 */
export function offlineCopySql(view: ViewVersion, filter: OfflineRowFilter = {}): string {
  const columns = [...LEADING_COLUMNS, ...view.features.map((f) => f.name)].map(quoteIdent).join(', ');
  const where: string[] = [];
  if (filter.startMs !== undefined) where.push(`event_ts >= ${timestampLiteral('startMs', filter.startMs)}`);
  if (filter.endMs !== undefined) where.push(`event_ts < ${timestampLiteral('endMs', filter.endMs)}`);
  if (filter.entityKeys !== undefined) {
    where.push(
      `entity_key = ANY(ARRAY[${filter.entityKeys.map((k) => pg.escapeLiteral(k)).join(', ')}]::text[])`,
    );
  }
  const select = `SELECT ${columns} FROM ${offlineTable(view.tables.offline)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
  return `COPY (${select}) TO STDOUT (FORMAT binary)`;
}

/**
 * All offline rows of a version (optionally filtered), in ingestion order (`ingest_seq`). There is
 * no ORDER BY: sorting millions of rows in Postgres would cost more than the export. The table is
 * append-only and unindexed, so a sequential scan returns rows in heap order, which is ingestion
 * order unless VACUUM let a later COPY reuse space; the decoder checks the sequence and reorders
 * only then. Synchronized scans (a big scan may start mid-table) and parallel workers (which
 * interleave pages) would scramble even the common case, so they are off for this transaction.
 */
export async function readOfflineRows(
  pool: pg.Pool,
  view: ViewVersion,
  opts: OfflineRowFilter = {},
): Promise<FeatureRows> {
  const sql = offlineCopySql(view, opts);
  // On failure the connection is discarded (its transaction with it): a COPY abandoned mid-stream
  // leaves it unusable.
  return withPooledClient(pool, async (client) => {
    await client.query('BEGIN READ ONLY');
    await client.query(
      `SET LOCAL synchronize_seqscans = off; SET LOCAL max_parallel_workers_per_gather = 0;
       SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_bitmapscan = off`,
    );
    const decoder = new OfflineRowsDecoder(view.features);
    for await (const chunk of client.query(copyTo(sql))) decoder.push(chunk as Buffer);
    await client.query('COMMIT');
    return decoder.finish();
  });
}

// ---------------------------------------------------------------------------------------------
// Binary COPY decoder

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Signature, flags (int32), header extension length (int32). */
const HEADER_BYTES = SIGNATURE.length + 8;
const TWO_32 = 4_294_967_296;

/** A string feature stops being interned beyond this many distinct values (e.g. unique ids). */
const MAX_INTERNED = 1 << 20;

/** A feature column being filled; arrays have spare capacity beyond the decoded row count. */
interface ColumnBuilder {
  name: string;
  type: FeatureType;
  values: Float64Array | Uint8Array | (string | null)[];
  valid: Uint8Array;
  /** Numeric types' binary COPY reader; text has none (read with the interner). */
  readCopy?: FeatureCodec['readCopy'];
  /** String features: repeated values share one string (until MAX_INTERNED distinct values). */
  interner?: Utf8Interner;
}

/**
 * Rows come in physical order, which is ingestion order unless VACUUM let a later COPY reuse space:
 * then a permutation sorting by ingest_seq (null when already in order, the usual case).
 */
function ingestionOrder(seq: Float64Array, n: number): Uint32Array | null {
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = seq[i - 1] < seq[i];
  if (sorted) return null;
  return new Uint32Array(n).map((_, i) => i).sort((a, b) => seq[a] - seq[b]);
}

/**
 * Decodes the binary COPY output of offlineCopySql (entity_key, event_ts, created_ts, features).
 * Chunks may split anywhere: a row is committed only once all its bytes are there, and an incomplete
 * tail is kept and retried with the next chunk. Entity keys are dictionary-encoded by the interner.
 */
export class OfflineRowsDecoder {
  private readonly columns: ColumnBuilder[];
  private readonly fieldCount: number;
  private readonly keys = new Utf8Interner();
  private keyCodes: Int32Array;
  private eventTs: Float64Array;
  private createdTs: Float64Array;
  private ingestSeq: Float64Array;
  private capacity: number;
  private length = 0;
  private pending: Buffer | undefined;
  private state: 'header' | 'rows' | 'done' = 'header';

  constructor(features: FeatureField[], initialCapacity = 1024) {
    this.capacity = initialCapacity;
    this.keyCodes = new Int32Array(initialCapacity);
    this.eventTs = new Float64Array(initialCapacity);
    this.createdTs = new Float64Array(initialCapacity);
    this.ingestSeq = new Float64Array(initialCapacity);
    this.fieldCount = LEADING_COLUMNS.length + features.length;
    this.columns = features.map((f) => {
      const { readCopy } = FEATURE_CODECS[f.type];
      return {
        name: f.name,
        type: f.type,
        // Text grows as a plain array (pushed by index); numbers and flags as typed arrays.
        values: readCopy ? FEATURE_CODECS[f.type].emptyValues(initialCapacity) : [],
        valid: new Uint8Array(initialCapacity),
        readCopy,
        interner: readCopy ? undefined : new Utf8Interner(),
      };
    });
  }

  push(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let pos = 0;
    if (this.state === 'header') {
      pos = this.header(buf);
      if (pos < 0) {
        this.pending = buf;
        return;
      }
      this.state = 'rows';
    }
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    while (this.state === 'rows') {
      const next = this.row(buf, view, pos);
      if (next < 0) break;
      pos = next;
    }
    if (pos < buf.length) {
      if (this.state === 'done') throw new Error('offline COPY: unexpected data after the end of the rows');
      this.pending = buf.subarray(pos);
    }
  }

  /** The decoded rows; throws if the stream ended before COPY's trailer. */
  finish(): FeatureRows {
    if (this.state !== 'done') throw new Error('offline COPY: stream ended before the last row');
    const n = this.length;
    const order = ingestionOrder(this.ingestSeq, n);
    const take = <T extends Float64Array | Uint8Array | Int32Array>(a: T): T => {
      if (!order) return a.slice(0, n) as T;
      const out = new (a.constructor as new (n: number) => T)(n);
      for (let i = 0; i < n; i++) out[i] = a[order[i]];
      return out;
    };
    const columns: Record<string, Column> = {};
    for (const c of this.columns) {
      const values = Array.isArray(c.values)
        ? order
          ? Array.from(order, (r) => (c.values as (string | null)[])[r])
          : c.values.slice(0, n)
        : take(c.values);
      columns[c.name] = { type: c.type, values, valid: take(c.valid) };
    }
    return {
      length: n,
      keys: this.keys.strings,
      keyCodes: take(this.keyCodes),
      eventTs: take(this.eventTs),
      createdTs: take(this.createdTs),
      columns,
    };
  }

  /** Position after the header, or -1 when more bytes are needed. */
  private header(buf: Buffer): number {
    if (buf.length < HEADER_BYTES) return -1;
    if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
      throw new Error('offline COPY: not a binary COPY stream (bad signature)');
    }
    if (buf.readUInt32BE(SIGNATURE.length) & (1 << 16)) throw new Error('offline COPY: rows carry OIDs');
    const end = HEADER_BYTES + buf.readUInt32BE(SIGNATURE.length + 4);
    return buf.length < end ? -1 : end;
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    this.keyCodes = grown(this.keyCodes, capacity);
    this.eventTs = grown(this.eventTs, capacity);
    this.createdTs = grown(this.createdTs, capacity);
    this.ingestSeq = grown(this.ingestSeq, capacity);
    for (const c of this.columns) {
      c.valid = grown(c.valid, capacity);
      if (!Array.isArray(c.values)) c.values = grown(c.values, capacity);
    }
    this.capacity = capacity;
  }

  /**
   * Decodes one tuple at `p` into row slot `length`; returns the position after it, or -1 when the
   * tuple is incomplete. A partial decode only wrote into the uncommitted slot, which the retry
   * overwrites (a key it added to the dictionary was complete, so the retry finds the same one).
   */
  private row(buf: Buffer, view: DataView, p: number): number {
    const end = buf.length;
    if (p + 2 > end) return -1;
    const count = view.getInt16(p);
    p += 2;
    if (count === -1) {
      this.state = 'done';
      return p;
    }
    if (count !== this.fieldCount) {
      throw new Error(`offline COPY: expected ${this.fieldCount} columns per row, got ${count}`);
    }
    const n = this.length;
    if (n === this.capacity) this.grow();
    for (let f = 0; f < count; f++) {
      if (p + 4 > end) return -1;
      const len = view.getInt32(p);
      p += 4;
      if (len > 0 && p + len > end) return -1;
      if (f < LEADING) {
        if (len < 0) throw new Error(`offline COPY: null ${LEADING_COLUMNS[f]}`);
        if (f === 0) this.keyCodes[n] = this.keys.intern(buf, p, p + len);
        else {
          expectWidth(LEADING_COLUMNS[f], len, 8);
          if (f === 3) this.ingestSeq[n] = view.getInt32(p) * TWO_32 + view.getUint32(p + 4);
          else (f === 1 ? this.eventTs : this.createdTs)[n] = copyTimestampMs(view, p);
        }
      } else {
        const c = this.columns[f - LEADING];
        if (len < 0) {
          c.valid[n] = 0;
          if (Array.isArray(c.values)) c.values[n] = null;
          continue;
        }
        c.valid[n] = 1;
        if (c.readCopy) {
          (c.values as Float64Array | Uint8Array)[n] = c.readCopy(view, p, len, c.name);
        } else {
          const interner = c.interner;
          (c.values as (string | null)[])[n] = interner
            ? interner.strings[interner.intern(buf, p, p + len)]
            : buf.toString('utf8', p, p + len);
          if (interner && interner.strings.length > MAX_INTERNED) c.interner = undefined;
        }
      }
      p += len;
    }
    this.length = n + 1;
    return p;
  }
}

// ---------------------------------------------------------------------------------------------
// Arrow

function featureVector(field: FeatureField, column: Column, n: number): Vector {
  // Export files keep strings plain (Utf8): their schema is documented per type, not per encoding.
  return field.type === 'string'
    ? utf8Vector(column.values as (string | null)[], column.valid, n)
    : columnToVector(column, { dictionaryId: 0, length: n, label: field.name });
}

/**
 * Rows as an Arrow table: entity_key (Dictionary<Utf8>), event_ts and created_ts (timestamp ms,
 * UTC), then the features in view order with int64 → Int64, float64 → Float64, bool → Bool,
 * string → Utf8, timestamp → timestamp ms UTC; nulls preserved.
 */
export function featureRowsToArrow(view: ViewVersion, rows: FeatureRows): Table {
  const n = rows.length;
  const vectors: Record<string, Vector> = {
    entity_key: makeVector(
      makeData({
        type: new Dictionary(new Utf8(), new Int32(), 0),
        length: n,
        data: rows.keyCodes.subarray(0, n),
        dictionary: vectorFromArray(rows.keys, new Utf8()),
      }),
    ),
    event_ts: int64Vector('event_ts', new TimestampMillisecond('UTC'), rows.eventTs, undefined, n),
    created_ts: int64Vector('created_ts', new TimestampMillisecond('UTC'), rows.createdTs, undefined, n),
  };
  for (const f of view.features) {
    const column = rows.columns[f.name];
    if (!column) throw new Error(`feature rows of ${view.name}@v${view.version} lack feature "${f.name}"`);
    vectors[f.name] = featureVector(f, column, n);
  }
  return new Table(vectors);
}

function expectType(
  name: string,
  vector: Vector | null,
  ok: (type: Vector['type']) => boolean,
  what: string,
): Vector {
  if (!vector) throw new Error(`arrow table lacks column "${name}"`);
  if (!ok(vector.type)) throw new Error(`arrow column "${name}" is ${vector.type}, expected ${what}`);
  return vector;
}

const isUtf8 = (t: Vector['type']) => t.typeId === Type.Utf8;
const isTimestamp = (t: Vector['type']) => t.typeId === Type.Timestamp;
const FEATURE_ARROW_TYPES: Record<FeatureType, [(t: Vector['type']) => boolean, string]> = {
  int64: [(t) => t.typeId === Type.Int && t.bitWidth === 64 && t.isSigned, 'Int64'],
  float64: [(t) => t.typeId === Type.Float && t.precision === 2, 'Float64'],
  bool: [(t) => t.typeId === Type.Bool, 'Bool'],
  string: [isUtf8, 'Utf8'],
  timestamp: [isTimestamp, 'Timestamp'],
};

/** Entity keys (Utf8 or Dictionary<Utf8>) re-dictionary-encoded; dictionary chunks are mapped once. */
/** A feature column from the source readers' columnar Arrow decoder; int64 must be exact. */
function featureColumn(f: FeatureField, raw: RawColumn): Column {
  const inexact = raw.kind === 'number' ? (raw.inexact?.indexOf(1) ?? -1) : -1;
  if (inexact >= 0) throw new Error(`column "${f.name}": value at row ${inexact} is beyond ±2^53`);
  return rawToColumn(raw, f.type === 'int64' ? 'int64' : 'float64');
}

/** The inverse of featureRowsToArrow (e.g. reading an export file back); columns are found by name. */
export function featureRowsFromArrow(view: ViewVersion, table: Table): FeatureRows {
  const n = table.numRows;
  const key = decodeVector(
    expectType(
      'entity_key',
      table.getChild('entity_key'),
      (t) => isUtf8(t) || (t.typeId === Type.Dictionary && isUtf8(t.dictionary)),
      'Utf8 or Dictionary<Utf8>',
    ),
    n,
  );
  if (key.kind !== 'string') throw new Error('arrow column "entity_key" is not text');
  const nullKey = key.codes.indexOf(-1);
  if (nullKey >= 0) throw new Error(`column "entity_key" has a null at row ${nullKey}`);
  const times = (name: string) => {
    const raw = decodeVector(expectType(name, table.getChild(name), isTimestamp, 'Timestamp'), n);
    if (raw.kind !== 'timestamp') throw new Error(`arrow column "${name}" is not a timestamp`);
    const nullAt = raw.valid.indexOf(0);
    if (nullAt >= 0) throw new Error(`column "${name}" has a null at row ${nullAt}`);
    return raw.values;
  };
  const columns: Record<string, Column> = {};
  for (const f of view.features) {
    const [ok, what] = FEATURE_ARROW_TYPES[f.type];
    columns[f.name] = featureColumn(f, decodeVector(expectType(f.name, table.getChild(f.name), ok, what), n));
  }
  return {
    length: n,
    keys: key.dictionary,
    keyCodes: key.codes,
    eventTs: times('event_ts'),
    createdTs: times('created_ts'),
    columns,
  };
}

// ---------------------------------------------------------------------------------------------
// Export file

/**
 * Writes the version's offline rows (event_ts in [startMs, endMs) when given) to `outPath` as an
 * Arrow IPC file. The bytes go to a temp file in the same directory, are fsynced, then renamed over
 * the target: readers see the old file or the complete new one, never a partial export.
 */
export async function exportOffline(
  pool: pg.Pool,
  view: ViewVersion,
  outPath: string,
  opts: { startMs?: number; endMs?: number } = {},
): Promise<{ rows: number; path: string }> {
  const rows = await readOfflineRows(pool, view, { startMs: opts.startMs, endMs: opts.endMs });
  const target = await writeArrowFileAtomic(outPath, featureRowsToArrow(view, rows));
  return { rows: rows.length, path: target };
}
