/**
 * Reads a window of a model's prediction log back out of Postgres, columnar: one binary COPY of the
 * predictions whose event time lies in the window, each with its label when one was known by the
 * monitor's as-of time, decoded incrementally into typed arrays per model version (no per-row
 * objects). Numeric model inputs come from the `inputs` float8[] in model input order; text inputs
 * and slice fields are read as text by JSON path and dictionary-encoded.
 */
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { inClientTransaction, NO_NESTED_LOOPS } from '../db/client.js';
import { copyTimestampMs, Utf8Interner } from '../feature-store/index.js';

export interface WindowQuery {
  model: string;
  startMs: number;
  endMs: number;
  /** Labels that became known after this are not seen. */
  asOfMs: number;
  /**
   * Text values to read per row, by name: `features.<input>` (a text model input) or
   * `entities.<field>` (an entity key or request field of the prediction).
   */
  texts?: string[];
}

/** A dictionary-coded text column: `dictionary[codes[i]]`, code -1 = null. */
export interface TextColumn {
  codes: Int32Array;
  dictionary: string[];
}

/** The window's predictions by one model version. */
export interface VersionRows {
  version: number;
  rows: number;
  eventTs: Float64Array;
  scores: Float64Array;
  /** 0/1, NaN where no label was known by the as-of time. */
  labels: Float64Array;
  /** Numeric inputs by position in the model's input order; NaN where null. */
  inputs: Float64Array[];
  /** By WindowQuery.texts name. */
  texts: Record<string, TextColumn>;
}

const TEXT_PATH = /^(features|entities)\.(.+)$/;

/** A timestamp literal for COPY statements (no parameters there), from epoch ms formatted here. */
export function literalTime(ms: number): string {
  return `${pg.escapeLiteral(new Date(ms).toISOString())}::timestamptz`;
}

/**
 * The label rows a window's predictions can have, as a subquery: those placed in its range (model and
 * event time copied from the prediction) and the few written before rows were placed — read by range,
 * where a join with the whole label table would read every label ever recorded.
 */
export function windowFeedbackSql(model: string, window: { startMs: number; endMs: number }): string {
  return `(SELECT * FROM kaizen.prediction_feedback
    WHERE (model_name = ${pg.escapeLiteral(model)} AND event_ts >= ${literalTime(window.startMs)} AND event_ts < ${literalTime(window.endMs)})
      OR model_name IS NULL)`;
}

/**
 * The COPY statement (COPY takes no parameters: values are spliced as escaped literals, times as ISO
 * strings formatted here). Column order is what the decoder reads: version, event_ts, score, label,
 * inputs, then the texts.
 */
export function windowCopySql(query: WindowQuery): string {
  const texts = (query.texts ?? []).map((name) => {
    const match = TEXT_PATH.exec(name);
    if (!match)
      throw new Error(`invalid window text "${name}": expected features.<input> or entities.<field>`);
    return `p.${match[1]} ->> ${pg.escapeLiteral(match[2])}`;
  });
  return `COPY (SELECT p.version, p.event_ts, p.score, f.label, p.inputs${texts.map((t) => `, ${t}`).join('')}
    FROM kaizen.predictions p
    LEFT JOIN ${windowFeedbackSql(query.model, query)} f ON f.prediction_id = p.id AND f.known_at <= ${literalTime(query.asOfMs)}
    WHERE p.model_name = ${pg.escapeLiteral(query.model)}
      AND p.event_ts >= ${literalTime(query.startMs)} AND p.event_ts < ${literalTime(query.endMs)}
  ) TO STDOUT (FORMAT binary)`;
}

/** Streams the window's COPY through `consume` on one pooled connection. */
function streamWindow(pool: pg.Pool, sql: string, consume: (chunk: Buffer) => void): Promise<void> {
  return inClientTransaction(pool, async (client) => {
    await client.query(NO_NESTED_LOOPS);
    for await (const chunk of client.query(copyTo(sql))) consume(chunk as Buffer);
  });
}

/** The window's predictions per version, ascending by version. */
export async function readWindow(pool: pg.Pool, query: WindowQuery): Promise<VersionRows[]> {
  const decoder = new WindowDecoder(query.texts ?? []);
  await streamWindow(pool, windowCopySql(query), (chunk) => decoder.push(chunk));
  return decoder.finish();
}

/** The same COPY, its bytes received and dropped: the I/O limit a monitor's read can reach. */
export async function drainWindow(pool: pg.Pool, query: WindowQuery): Promise<number> {
  let bytes = 0;
  await streamWindow(pool, windowCopySql(query), (chunk) => (bytes += chunk.length));
  return bytes;
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER_BYTES = SIGNATURE.length + 8;
const LEADING_FIELDS = 5;

/** Rows per block of a version's columns: columns grow by blocks, copied once when the window is read. */
const BLOCK_ROWS = 65_536;

/** One block of a version's columns; `inputs` is empty for rows logged without inputs. */
interface Block {
  eventTs: Float64Array;
  scores: Float64Array;
  labels: Float64Array;
  inputs: Float64Array[];
  codes: Int32Array[];
}

/** A version's columns being filled, block by block. */
class VersionBuilder {
  rows = 0;
  /** Rows in the current block. */
  slot = 0;
  /** Inputs per row; 0 until a row with inputs arrives. */
  inputCount = 0;
  private readonly full: Block[] = [];
  block: Block;
  /** One interner per text column: codes straight from the COPY bytes, a string per distinct value. */
  readonly texts: Utf8Interner[];

  constructor(
    readonly version: number,
    private readonly textCount: number,
  ) {
    this.texts = Array.from({ length: textCount }, () => new Utf8Interner());
    this.block = this.newBlock();
  }

  private newBlock(): Block {
    return {
      eventTs: new Float64Array(BLOCK_ROWS),
      scores: new Float64Array(BLOCK_ROWS),
      labels: new Float64Array(BLOCK_ROWS),
      inputs: Array.from({ length: this.inputCount }, () => new Float64Array(BLOCK_ROWS)),
      codes: Array.from({ length: this.textCount }, () => new Int32Array(BLOCK_ROWS)),
    };
  }

  /**
   * The block with room for one more row holding `inputCount` inputs. Rows logged without inputs
   * (before they were kept) count as all-null; rows of one version never hold two different counts.
   */
  reserve(inputCount: number): Block {
    if (this.slot === BLOCK_ROWS) {
      this.full.push(this.block);
      this.block = this.newBlock();
      this.slot = 0;
    }
    if (inputCount !== 0 && inputCount !== this.inputCount) {
      if (this.inputCount > 0)
        throw new Error(
          `prediction log: v${this.version} rows hold ${this.inputCount} and ${inputCount} inputs`,
        );
      this.inputCount = inputCount;
      this.block.inputs = Array.from({ length: inputCount }, () => new Float64Array(BLOCK_ROWS).fill(NaN));
    }
    return this.block;
  }

  commit(): void {
    this.slot++;
    this.rows++;
  }

  finish(names: string[]): VersionRows {
    const blocks = [...this.full, this.block];
    const n = this.rows;
    const empty = new Float64Array(0);
    // One column at a time, its blocks let go as soon as it is whole: the peak stays near one copy.
    const join = <T extends Float64Array | Int32Array>(
      part: (b: Block) => T | undefined,
      release: (b: Block) => void,
      out: T,
    ): T => {
      blocks.forEach((b, i) => {
        const rows = i < blocks.length - 1 ? BLOCK_ROWS : this.slot;
        const values = part(b);
        if (values) out.set(values.subarray(0, rows), i * BLOCK_ROWS);
        else out.fill(NaN, i * BLOCK_ROWS, i * BLOCK_ROWS + rows);
        release(b);
      });
      return out;
    };
    return {
      version: this.version,
      rows: n,
      eventTs: join(
        (b) => b.eventTs,
        (b) => (b.eventTs = empty),
        new Float64Array(n),
      ),
      scores: join(
        (b) => b.scores,
        (b) => (b.scores = empty),
        new Float64Array(n),
      ),
      labels: join(
        (b) => b.labels,
        (b) => (b.labels = empty),
        new Float64Array(n),
      ),
      inputs: Array.from({ length: this.inputCount }, (_, k) =>
        join(
          (b) => b.inputs[k],
          (b) => (b.inputs[k] = empty),
          new Float64Array(n),
        ),
      ),
      texts: Object.fromEntries(
        this.texts.map((t, k) => [
          names[k],
          {
            codes: join(
              (b) => b.codes[k],
              (b) => (b.codes[k] = new Int32Array(0)),
              new Int32Array(n),
            ),
            dictionary: t.strings,
          },
        ]),
      ),
    };
  }
}

/**
 * Decodes windowCopySql's binary COPY. Chunks split anywhere: a row is decoded only once all its
 * bytes are there (a first pass over the field lengths finds its end); an incomplete tail waits for
 * the next chunk.
 */
class WindowDecoder {
  private readonly versions = new Map<number, VersionBuilder>();
  private pending: Buffer | undefined;
  private state: 'header' | 'rows' | 'done' = 'header';

  constructor(private readonly textNames: string[]) {}

  push(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let pos = 0;
    if (this.state === 'header') {
      if (buf.length < HEADER_BYTES) {
        this.pending = buf;
        return;
      }
      if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE))
        throw new Error('prediction log COPY: not a binary COPY stream');
      pos = HEADER_BYTES + buf.readUInt32BE(SIGNATURE.length + 4);
      this.state = 'rows';
    }
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    while (this.state === 'rows') {
      const end = this.rowEnd(view, pos);
      if (end < 0) break;
      if (end === pos + 2) this.state = 'done';
      else this.row(buf, view, pos + 2);
      pos = end;
    }
    if (pos < buf.length) this.pending = buf.subarray(pos);
  }

  finish(): VersionRows[] {
    if (this.state !== 'done') throw new Error('prediction log COPY: stream ended before the last row');
    return [...this.versions.values()]
      .sort((a, b) => a.version - b.version)
      .map((b) => b.finish(this.textNames));
  }

  /** Where the tuple at `p` ends (the trailer: p + 2), or -1 when its bytes are not all here. */
  private rowEnd(view: DataView, p: number): number {
    const end = view.byteLength;
    if (p + 2 > end) return -1;
    const count = view.getInt16(p);
    if (count === -1) return p + 2;
    if (count !== LEADING_FIELDS + this.textNames.length)
      throw new Error(
        `prediction log COPY: expected ${LEADING_FIELDS + this.textNames.length} columns, got ${count}`,
      );
    p += 2;
    for (let f = 0; f < count; f++) {
      if (p + 4 > end) return -1;
      const len = view.getInt32(p);
      p += 4 + Math.max(0, len);
      if (p > end) return -1;
    }
    return p;
  }

  /** Decodes a complete tuple whose first field starts at `p`. */
  private row(buf: Buffer, view: DataView, p: number): void {
    p += 4;
    const version = view.getInt32(p);
    p += 4;
    let builder = this.versions.get(version);
    if (!builder) this.versions.set(version, (builder = new VersionBuilder(version, this.textNames.length)));
    p += 4;
    const eventTs = copyTimestampMs(view, p);
    p += 8 + 4;
    const score = view.getFloat64(p);
    p += 8;
    const labelLength = view.getInt32(p);
    p += 4;
    const label = labelLength < 0 ? NaN : view.getFloat64(p);
    p += Math.max(0, labelLength);
    const inputsLength = view.getInt32(p);
    p += 4;
    // float8[]: ndim, has-null flag, element type, then (size, lower bound) per dimension; null or {} → no inputs.
    const inputCount = inputsLength < 0 || view.getInt32(p) === 0 ? 0 : view.getInt32(p + 12);
    const block = builder.reserve(inputCount);
    const n = builder.slot;
    let q = p + 20;
    for (let k = 0; k < block.inputs.length; k++) {
      if (inputCount === 0) {
        block.inputs[k][n] = NaN;
        continue;
      }
      const len = view.getInt32(q);
      q += 4;
      block.inputs[k][n] = len < 0 ? NaN : view.getFloat64(q);
      q += Math.max(0, len);
    }
    p += Math.max(0, inputsLength);
    for (let t = 0; t < builder.texts.length; t++) {
      const len = view.getInt32(p);
      p += 4;
      const text = builder.texts[t];
      if (len < 0) block.codes[t][n] = -1;
      else {
        const code = text.intern(buf, p, p + len);
        block.codes[t][n] = code;
        p += len;
      }
    }
    block.eventTs[n] = eventTs;
    block.scores[n] = score;
    block.labels[n] = label;
    builder.commit();
  }
}
