import type { Column, FeatureField, FeatureFrame } from '../definitions/types.js';

/**
 * Encodes frames in PostgreSQL's binary COPY format straight from the typed columns: no per-row
 * objects and no text parsing of numbers and timestamps on the server side.
 */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
export const COPY_HEADER = Buffer.concat([SIGNATURE, Buffer.alloc(8)]);
export const COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01). */
const PG_EPOCH_MS = 946_684_800_000;

/** Extra per-row columns of the store tables, appended after entity_key, event_ts and the features. */
export interface ConstantColumns {
  /** created_ts of rows whose frame has no per-row createdTs (the materialization time). */
  createdTsMs: number;
  materializationId: string;
}

class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  int16(v: number): void {
    this.ensure(2);
    this.pos = this.buf.writeInt16BE(v, this.pos);
  }
  int32(v: number): void {
    this.ensure(4);
    this.pos = this.buf.writeInt32BE(v, this.pos);
  }
  bytes(b: Buffer): void {
    this.ensure(4 + b.length);
    this.pos = this.buf.writeInt32BE(b.length, this.pos);
    this.pos += b.copy(this.buf, this.pos);
  }
  /** int64 from a safe integer without a BigInt allocation per value. */
  private int64(v: number): void {
    const hi = Math.floor(v / 4_294_967_296);
    this.pos = this.buf.writeInt32BE(hi, this.pos);
    this.pos = this.buf.writeUInt32BE(v - hi * 4_294_967_296, this.pos);
  }
  timestamp(ms: number): void {
    this.ensure(12);
    this.pos = this.buf.writeInt32BE(8, this.pos);
    this.int64(Math.round((ms - PG_EPOCH_MS) * 1000));
  }
  float8(v: number): void {
    this.ensure(12);
    this.pos = this.buf.writeInt32BE(8, this.pos);
    this.pos = this.buf.writeDoubleBE(v, this.pos);
  }
  int8(v: number): void {
    this.ensure(12);
    this.pos = this.buf.writeInt32BE(8, this.pos);
    this.int64(v);
  }
  bool(v: number): void {
    this.ensure(5);
    this.pos = this.buf.writeInt32BE(1, this.pos);
    this.buf[this.pos++] = v ? 1 : 0;
  }
  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** UTF-8 bytes of repeated strings (entity keys, categories) are encoded once. */
class Utf8Cache {
  private readonly map = new Map<string, Buffer>();
  get(s: string): Buffer {
    let b = this.map.get(s);
    if (b === undefined) {
      b = Buffer.from(s, 'utf8');
      if (this.map.size < 100_000) this.map.set(s, b);
    }
    return b;
  }
}

function writeValue(w: Writer, column: Column, i: number, strings: Utf8Cache): void {
  if (!column.valid[i]) {
    w.int32(-1);
    return;
  }
  switch (column.type) {
    case 'float64':
      w.float8((column.values as Float64Array)[i]);
      return;
    case 'int64':
      w.int8((column.values as Float64Array)[i]);
      return;
    case 'timestamp':
      w.timestamp((column.values as Float64Array)[i]);
      return;
    case 'bool':
      w.bool((column.values as Uint8Array)[i]);
      return;
    case 'string':
      w.bytes(strings.get((column.values as (string | null)[])[i] as string));
      return;
  }
}

/**
 * Encodes rows [from, to) of a frame as COPY tuples with columns
 * (entity_key, event_ts, <features in `fields` order>, created_ts, materialization_id).
 */
export function* encodeFrame(
  frame: FeatureFrame,
  fields: FeatureField[],
  constants: ConstantColumns,
  batchRows = 16_384,
): Generator<Buffer> {
  const strings = new Utf8Cache();
  const materializationId = Buffer.from(constants.materializationId, 'utf8');
  const columns = fields.map((f) => frame.columns[f.name]);
  const createdTs = frame.createdTs;
  const fieldCount = 2 + fields.length + 2;
  for (let from = 0; from < frame.length; from += batchRows) {
    const to = Math.min(frame.length, from + batchRows);
    const w = new Writer((to - from) * (16 + fieldCount * 16));
    for (let i = from; i < to; i++) {
      w.int16(fieldCount);
      w.bytes(strings.get(frame.entityKey[i]));
      w.timestamp(frame.eventTs[i]);
      for (const column of columns) writeValue(w, column, i, strings);
      w.timestamp(createdTs ? createdTs[i] : constants.createdTsMs);
      w.bytes(materializationId);
    }
    yield w.result();
  }
}
