import { FEATURE_CODECS, type CopyWriter } from '../columns/codecs.js';
import type { FeatureField, FeatureFrame } from '../definitions/types.js';

/**
 * PostgreSQL's binary COPY format, written straight from typed columns: no per-row objects and no
 * text formatting or parsing of numbers and timestamps. Frames of the store tables are encoded here;
 * the writer is public for other tables fed by COPY (the prediction log).
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

/** OID of float8, the element type of float8[] (pg_type.h). */
const FLOAT8_OID = 701;

/** One buffer of COPY tuples: a tuple is `fields(n)` then n values, each written by one method. */
export class CopyBinaryWriter implements CopyWriter {
  constructor(
    size: number,
    private readonly strings = new Utf8Cache(),
  ) {
    this.buf = Buffer.allocUnsafe(size);
  }
  buf: Buffer;
  pos = 0;
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
  int4(v: number): void {
    this.ensure(8);
    this.pos = this.buf.writeInt32BE(4, this.pos);
    this.pos = this.buf.writeInt32BE(v, this.pos);
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
  text(s: string): void {
    this.bytes(this.strings.get(s));
  }
  /** Text seen once (an id): written without the cache of repeated strings. */
  uniqueText(s: string): void {
    const n = Buffer.byteLength(s);
    this.ensure(4 + n);
    this.pos = this.buf.writeInt32BE(n, this.pos);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
  /** jsonb's binary form: a version byte (1), then the JSON text (not cached: rows differ). */
  jsonb(json: string): void {
    const n = Buffer.byteLength(json);
    this.ensure(5 + n);
    this.pos = this.buf.writeInt32BE(1 + n, this.pos);
    this.buf[this.pos++] = 1;
    this.pos += this.buf.write(json, this.pos, 'utf8');
  }
  /** A one-dimensional float8[] of `length` elements, element k `at(k)` (null where it returns null). */
  float8Array(length: number, at: (k: number) => number | null): void {
    const start = this.pos;
    // Length, ndim, has-nulls, element type; then the dimension (size, lower bound 1), when not empty.
    this.ensure(length === 0 ? 16 : 24 + length * 12);
    this.pos += 4;
    this.pos = this.buf.writeInt32BE(length === 0 ? 0 : 1, this.pos);
    const hasNulls = this.pos;
    this.pos = this.buf.writeInt32BE(0, this.pos);
    this.pos = this.buf.writeInt32BE(FLOAT8_OID, this.pos);
    if (length > 0) {
      this.pos = this.buf.writeInt32BE(length, this.pos);
      this.pos = this.buf.writeInt32BE(1, this.pos);
    }
    for (let k = 0; k < length; k++) {
      const v = at(k);
      if (v === null) {
        this.buf.writeInt32BE(1, hasNulls);
        this.pos = this.buf.writeInt32BE(-1, this.pos);
      } else {
        this.pos = this.buf.writeInt32BE(8, this.pos);
        this.pos = this.buf.writeDoubleBE(v, this.pos);
      }
    }
    this.buf.writeInt32BE(this.pos - start - 4, start);
  }
  /** Starts a tuple of `n` fields. */
  fields(n: number): void {
    this.int16(n);
  }
  /** A null of any type. */
  null(): void {
    this.int32(-1);
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
  const writers = fields.map((f) => FEATURE_CODECS[f.type].writeCopy);
  const createdTs = frame.createdTs;
  const fieldCount = 2 + fields.length + 2;
  for (let from = 0; from < frame.length; from += batchRows) {
    const to = Math.min(frame.length, from + batchRows);
    const w = new CopyBinaryWriter((to - from) * (16 + fieldCount * 16), strings);
    for (let i = from; i < to; i++) {
      w.fields(fieldCount);
      w.bytes(strings.get(frame.entityKey[i]));
      w.timestamp(frame.eventTs[i]);
      for (let k = 0; k < columns.length; k++) {
        const column = columns[k];
        if (column.valid[i]) writers[k](w, column.values[i]!);
        else w.null();
      }
      w.timestamp(createdTs ? createdTs[i] : constants.createdTsMs);
      w.bytes(materializationId);
    }
    yield w.result();
  }
}
