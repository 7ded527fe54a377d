/**
 * The built-in trainer's model: preprocessing of raw feature columns plus dense layers ending in one
 * logit. This one description is trained (train.ts), exported to ONNX (onnx-export.ts) and used
 * for the trainer's own predictions, so all three agree by construction (up to the rounding of sums
 * taken in another order: the training kernels' and onnxruntime's float32, these float64).
 */
import type { Column } from '../../feature-store/index.js';

/**
 * A raw input column and how it becomes model inputs:
 * - numeric: missing (null or NaN) → `fill`; then `(x - mean) / std`; plus, with
 *   `missingIndicator`, one more input that is 1 when the value was missing, else 0;
 * - categorical: one input per category (one-hot); null or an unseen value → all zeros.
 */
export type InputColumn =
  | { kind: 'numeric'; name: string; mean: number; std: number; fill: number; missingIndicator: boolean }
  | { kind: 'categorical'; name: string; categories: string[] };

export interface DenseLayer {
  inputs: number;
  outputs: number;
  /** outputs × inputs, row-major. */
  weights: Float32Array;
  bias: Float32Array;
  activation: 'relu' | 'none';
}

export interface BuiltinModel {
  kind: 'logistic' | 'mlp';
  /** Raw feature columns in order; ONNX inputs carry these names. */
  inputs: InputColumn[];
  /** The last layer has one output: the logit; the probability is its sigmoid. */
  layers: DenseLayer[];
}

/** Width of the preprocessed input vector. */
export function inputWidth(inputs: InputColumn[]): number {
  return inputs.reduce(
    (n, c) => n + (c.kind === 'numeric' ? (c.missingIndicator ? 2 : 1) : c.categories.length),
    0,
  );
}

/**
 * Preprocessed inputs, rows × inputWidth, row-major (float32, as the ONNX graph computes), into `out`
 * (zeroed, e.g. shared memory) or a new array.
 */
export function preprocess(
  inputs: InputColumn[],
  columns: Record<string, Column>,
  rows: number,
  out = new Float32Array(rows * inputWidth(inputs)),
): Float32Array {
  const width = inputWidth(inputs);
  let offset = 0;
  for (const input of inputs) {
    const column = columns[input.name];
    if (!column) throw new Error(`model input "${input.name}" is missing from the feature columns`);
    if (input.kind === 'numeric') {
      if (Array.isArray(column.values)) throw new Error(`model input "${input.name}" must be numeric`);
      const values = column.values;
      const mean = Math.fround(input.mean);
      const std = Math.fround(input.std);
      for (let i = 0; i < rows; i++) {
        const raw = Math.fround(values[i]);
        const missing = !column.valid[i] || Number.isNaN(raw);
        const x = missing ? Math.fround(input.fill) : raw;
        out[i * width + offset] = Math.fround(Math.fround(x - mean) / std);
        if (input.missingIndicator) out[i * width + offset + 1] = missing ? 1 : 0;
      }
      offset += input.missingIndicator ? 2 : 1;
    } else {
      if (!Array.isArray(column.values))
        throw new Error(`model input "${input.name}" must be a string column`);
      const index = new Map(input.categories.map((c, k) => [c, k]));
      for (let i = 0; i < rows; i++) {
        const value = column.valid[i] ? column.values[i] : null;
        const k = value === null ? undefined : index.get(value);
        if (k !== undefined) out[i * width + offset + k] = 1;
      }
      offset += input.categories.length;
    }
  }
  return out;
}

/** Logits of preprocessed rows (float32 arithmetic per layer, as onnxruntime computes Gemm). */
export function logits(layers: DenseLayer[], x: Float32Array, rows: number): Float32Array {
  let current = x;
  for (const { inputs, outputs, weights, bias, activation } of layers) {
    const next = new Float32Array(rows * outputs);
    const floor = activation === 'relu' ? 0 : -Infinity;
    // Four rows at a time: four independent sums per weight loaded, each still summed in k order
    // (so the same sums as row by row); a short last block repeats its last row.
    for (let i = 0; i < rows; i += 4) {
      const i1 = Math.min(i + 1, rows - 1);
      const i2 = Math.min(i + 2, rows - 1);
      const i3 = Math.min(i + 3, rows - 1);
      const r0 = i * inputs;
      const r1 = i1 * inputs;
      const r2 = i2 * inputs;
      const r3 = i3 * inputs;
      for (let o = 0; o < outputs; o++) {
        let s0 = bias[o];
        let s1 = s0;
        let s2 = s0;
        let s3 = s0;
        const w = o * inputs;
        for (let k = 0; k < inputs; k++) {
          const wk = weights[w + k];
          s0 += wk * current[r0 + k];
          s1 += wk * current[r1 + k];
          s2 += wk * current[r2 + k];
          s3 += wk * current[r3 + k];
        }
        next[i * outputs + o] = Math.max(s0, floor);
        next[i1 * outputs + o] = Math.max(s1, floor);
        next[i2 * outputs + o] = Math.max(s2, floor);
        next[i3 * outputs + o] = Math.max(s3, floor);
      }
    }
    current = next;
  }
  return current;
}

/** P(label = 1) for raw feature columns: what the exported ONNX graph returns. */
export function predictProbabilities(
  model: BuiltinModel,
  columns: Record<string, Column>,
  rows: number,
): Float64Array {
  const z = logits(model.layers, preprocess(model.inputs, columns, rows), rows);
  return Float64Array.from(z, (v) => 1 / (1 + Math.exp(-v)));
}
