/**
 * Scores feature columns with an exported model (onnx-export.ts) in onnxruntime: what serving and
 * evaluation use, so they run the very graph that gets deployed. Reads both graph layouts
 * (onnx-proto.ts NUMERIC_BLOCK): numeric columns as one block, or one input per column.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { Column } from '../feature-store/index.js';
import { decodeModelMetadata, NUMERIC_BLOCK } from '../trainers/builtin/onnx-proto.js';
import { InvalidModelGraphError } from './errors.js';

export interface OnnxScorer {
  /** The raw feature columns the model reads. */
  readonly inputNames: readonly string[];
  /** Inputs the graph reads as strings (categorical); the others are numeric. */
  readonly stringInputs: ReadonlySet<string>;
  /** P(label = 1) per row. */
  score(columns: Record<string, Column>, rows: number): Promise<Float64Array>;
  release(): Promise<void>;
}

export interface OnnxScorerOptions {
  /**
   * Threads one scoring call uses (onnxruntime's default: one per core). Serving scores a few rows
   * per request and passes 1: a thread pool's hand-off and spinning threads cost more than they save,
   * and the spinning takes a core from the requests served beside it.
   */
  threads?: number;
}

export async function createOnnxScorer(bytes: Uint8Array, opts: OnnxScorerOptions = {}): Promise<OnnxScorer> {
  const session = await InferenceSession.create(
    bytes,
    opts.threads === undefined ? {} : { intraOpNumThreads: opts.threads, interOpNumThreads: opts.threads },
  );
  // The graph's declared input types say how to encode each column (float or string).
  const stringInputs = new Set(
    session.inputMetadata.filter((m) => m.isTensor && m.type === 'string').map((m) => m.name),
  );
  let numeric: NumericBlock | null;
  try {
    numeric = numericBlockOf(bytes, session, stringInputs);
  } catch (error) {
    await session.release();
    throw error;
  }
  const columnInputs = session.inputNames.filter((name) => name !== NUMERIC_BLOCK.input);
  return {
    inputNames: numeric ? [...numeric.columns, ...columnInputs] : columnInputs,
    stringInputs,
    async score(columns, rows) {
      if (rows === 0) return new Float64Array(0);
      const feeds: Record<string, Tensor> = {};
      const block = numeric?.take(rows);
      try {
        if (block) feeds[NUMERIC_BLOCK.input] = numeric!.fill(block, columns);
        for (const name of columnInputs) {
          const column = inputColumn(columns, name);
          feeds[name] = stringInputs.has(name)
            ? stringTensor(name, column, rows)
            : new Tensor('float32', floats(name, column, rows, 1, 0, new Float32Array(rows)), [rows, 1]);
        }
        const { probability } = await session.run(feeds, ['probability']);
        return Float64Array.from(probability.data as Float32Array);
      } finally {
        if (block) numeric!.give(block);
      }
    },
    release: () => session.release(),
  };
}

function inputColumn(columns: Record<string, Column>, name: string): Column {
  const column = columns[name];
  if (!column) throw new Error(`model input "${name}" is missing from the feature columns`);
  return column;
}

/** Writes a numeric column into `data` from `offset`, every `stride`; missing (invalid or NaN) → NaN, which the graph imputes. */
function floats(
  name: string,
  column: Column,
  rows: number,
  stride: number,
  offset: number,
  data: Float32Array,
): Float32Array {
  const { values, valid } = column;
  if (Array.isArray(values)) throw new Error(`model input "${name}" must be numeric`);
  for (let i = 0, at = offset; i < rows; i++, at += stride) data[at] = valid[i] ? values[i] : NaN;
  return data;
}

/** Nulls become "", which the graph treats as missing. */
function stringTensor(name: string, column: Column, rows: number): Tensor {
  const { values, valid } = column;
  if (!Array.isArray(values)) throw new Error(`model input "${name}" must be a string column`);
  const data = Array.from({ length: rows }, (_, i) => (valid[i] ? (values[i] ?? '') : ''));
  return new Tensor('string', data, [rows, 1]);
}

interface Block {
  rows: number;
  tensor: Tensor;
  data: Float32Array;
}

/** Requests of up to this many rows reuse their block's buffer and tensor (serving's sizes). */
const REUSED_ROWS = 64;
/** Idle blocks kept per row count: as many as requests of that size ever overlapped, up to this. */
const REUSED_PER_SIZE = 16;

/**
 * The numeric block input: its columns, and the blocks of small requests, reused across calls (a
 * scoring call takes one and gives it back once onnxruntime is done with it, so concurrent calls
 * never share one).
 */
class NumericBlock {
  private readonly idle = new Map<number, Block[]>();

  constructor(readonly columns: readonly string[]) {}

  take(rows: number): Block {
    return this.idle.get(rows)?.pop() ?? this.create(rows);
  }

  /** The block's tensor, holding the columns' values row by row. */
  fill(block: Block, columns: Record<string, Column>): Tensor {
    const width = this.columns.length;
    this.columns.forEach((name, j) =>
      floats(name, inputColumn(columns, name), block.rows, width, j, block.data),
    );
    return block.tensor;
  }

  give(block: Block): void {
    if (block.rows > REUSED_ROWS) return;
    let idle = this.idle.get(block.rows);
    if (!idle) this.idle.set(block.rows, (idle = []));
    if (idle.length < REUSED_PER_SIZE) idle.push(block);
  }

  private create(rows: number): Block {
    const data = new Float32Array(rows * this.columns.length);
    return { rows, data, tensor: new Tensor('float32', data, [rows, this.columns.length]) };
  }
}

/** The graph's numeric block, checked against its metadata; null for a graph of one input per column. */
function numericBlockOf(
  bytes: Uint8Array,
  session: InferenceSession,
  stringInputs: ReadonlySet<string>,
): NumericBlock | null {
  const { input: blockInput, metadataKey } = NUMERIC_BLOCK;
  const invalid = (why: string) => new InvalidModelGraphError(`invalid ONNX model: ${why}`);
  const listed = decodeModelMetadata(bytes).get(metadataKey);
  const input = session.inputMetadata.find((m) => m.name === blockInput);
  if (listed === undefined) {
    if (input) throw invalid(`the graph has input ${blockInput} but no metadata ${metadataKey}`);
    return null;
  }
  let columns: unknown;
  try {
    columns = JSON.parse(listed);
  } catch {
    throw invalid(`metadata ${metadataKey} is not JSON: ${listed}`);
  }
  if (!Array.isArray(columns) || !columns.every((c) => typeof c === 'string'))
    throw invalid(`metadata ${metadataKey} is not a list of column names: ${listed}`);
  const duplicate = columns.find((c, i) => columns.indexOf(c) !== i);
  if (duplicate !== undefined) throw invalid(`metadata ${metadataKey} lists "${duplicate}" twice`);
  const clash = columns.find((c) => session.inputNames.includes(c) || stringInputs.has(c));
  if (clash !== undefined) throw invalid(`column "${clash}" is both in the numeric block and a graph input`);
  if (columns.length === 0) {
    if (input) throw invalid(`the graph has input ${blockInput} but ${metadataKey} lists no columns`);
    return null;
  }
  const width = input?.isTensor ? input.shape[1] : undefined;
  if (!input?.isTensor || input.type !== 'float32' || width !== columns.length)
    throw invalid(
      `${metadataKey} lists ${columns.length} numeric columns, but the graph's ${blockInput} input is not float [N, ${columns.length}]`,
    );
  return new NumericBlock(columns as string[]);
}
