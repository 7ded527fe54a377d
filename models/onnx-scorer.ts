/**
 * Scores feature columns with an exported model (onnx-export.ts) in onnxruntime: what serving and
 * evaluation use, so they run the very graph that gets deployed.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { Column } from '../feature-store/index.js';

export interface OnnxScorer {
  /** Graph inputs: the raw feature columns the model reads. */
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
  return {
    inputNames: session.inputNames,
    stringInputs,
    async score(columns, rows) {
      if (rows === 0) return new Float64Array(0);
      const feeds: Record<string, Tensor> = {};
      for (const name of session.inputNames) {
        const column = columns[name];
        if (!column) throw new Error(`model input "${name}" is missing from the feature columns`);
        feeds[name] = stringInputs.has(name)
          ? stringTensor(name, column, rows)
          : floatTensor(name, column, rows);
      }
      const { probability } = await session.run(feeds, ['probability']);
      return Float64Array.from(probability.data as Float32Array);
    },
    release: () => session.release(),
  };
}

/** Missing values (invalid or NaN) become NaN, which the graph imputes. */
function floatTensor(name: string, column: Column, rows: number): Tensor {
  const { values, valid } = column;
  if (Array.isArray(values)) throw new Error(`model input "${name}" must be numeric`);
  const data = new Float32Array(rows);
  for (let i = 0; i < rows; i++) data[i] = valid[i] ? values[i] : NaN;
  return new Tensor('float32', data, [rows, 1]);
}

/** Nulls become "", which the graph treats as missing. */
function stringTensor(name: string, column: Column, rows: number): Tensor {
  const { values, valid } = column;
  if (!Array.isArray(values)) throw new Error(`model input "${name}" must be a string column`);
  const data = Array.from({ length: rows }, (_, i) => (valid[i] ? (values[i] ?? '') : ''));
  return new Tensor('string', data, [rows, 1]);
}
