/**
 * The dense network while it trains: all parameters in one flat Float64Array (so Adam and
 * best-weight snapshots are single loops) and every buffer sized once for the largest batch.
 * Hidden layers are relu, the last layer is one linear logit. Batches are padded to a whole number of
 * row blocks (see kernels.ts): padding rows get a zero logit gradient, so they change nothing.
 */
import { accumulateGradients, multiply, ROW_BLOCK } from './kernels.js';
import type { DenseLayer } from './model.js';
import { gaussian } from './prng.js';

interface Layer {
  inputs: number;
  outputs: number;
  /** outputs × inputs views into params / grads, as in DenseLayer. */
  weights: Float64Array;
  bias: Float64Array;
  weightGrads: Float64Array;
  biasGrads: Float64Array;
  /** inputs × outputs copy of weights, for propagating gradients back. */
  transposed: Float64Array;
}

/** Rows rounded up to the kernels' row block. */
export const padRows = (rows: number): number => Math.ceil(rows / ROW_BLOCK) * ROW_BLOCK;

export class Network {
  readonly params: Float64Array;
  readonly grads: Float64Array;
  private readonly layers: Layer[];
  /** outputs[l]: rows × layers[l].outputs, post-activation. */
  private readonly outputs: Float64Array[];
  /** deltas[l]: d loss / d pre-activation of layer l. */
  private readonly deltas: Float64Array[];

  /** sizes: input width, hidden widths…, 1. He init for relu layers, LeCun for the logit. */
  constructor(sizes: number[], maxBatch: number, random: () => number) {
    let total = 0;
    for (let l = 1; l < sizes.length; l++) total += sizes[l - 1] * sizes[l] + sizes[l];
    this.params = new Float64Array(total);
    this.grads = new Float64Array(total);
    this.layers = [];
    let offset = 0;
    for (let l = 1; l < sizes.length; l++) {
      const inputs = sizes[l - 1];
      const outputs = sizes[l];
      const w = [offset, offset + inputs * outputs] as const;
      const b = [w[1], w[1] + outputs] as const;
      offset = b[1];
      const layer: Layer = {
        inputs,
        outputs,
        weights: this.params.subarray(...w),
        bias: this.params.subarray(...b),
        weightGrads: this.grads.subarray(...w),
        biasGrads: this.grads.subarray(...b),
        transposed: new Float64Array(inputs * outputs),
      };
      const scale = Math.sqrt((l < sizes.length - 1 ? 2 : 1) / Math.max(1, inputs));
      for (let i = 0; i < layer.weights.length; i++) layer.weights[i] = gaussian(random) * scale;
      this.layers.push(layer);
    }
    const rows = padRows(maxBatch);
    this.outputs = this.layers.map((layer) => new Float64Array(rows * layer.outputs));
    this.deltas = this.layers.map((layer) => new Float64Array(rows * layer.outputs));
  }

  /** Logits of `rows` preprocessed rows (padded rows × input width); a view valid until the next call. */
  forward(x: Float64Array, rows: number): Float64Array {
    const padded = padRows(rows);
    let input = x;
    for (let l = 0; l < this.layers.length; l++) {
      const { inputs, outputs, weights, bias } = this.layers[l];
      const out = this.outputs[l];
      multiply(input, weights, bias, out, padded, inputs, outputs);
      // relu as a multiply by 0/1: a branch here mispredicts half the time (≈4× slower).
      if (l < this.layers.length - 1) for (let i = 0; i < padded * outputs; i++) out[i] *= +(out[i] > 0);
      input = out;
    }
    return input.subarray(0, rows);
  }

  /**
   * Gradients (overwriting `grads`) after `forward` on the same rows, given d loss / d logit per
   * row. A relu unit whose output was 0 passes no gradient back.
   */
  backward(x: Float64Array, rows: number, logitGrads: Float64Array): void {
    const padded = padRows(rows);
    this.grads.fill(0);
    const last = this.deltas[this.layers.length - 1];
    last.set(logitGrads.subarray(0, rows));
    last.fill(0, rows, padded);
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const { inputs, outputs, weights, weightGrads, biasGrads, transposed } = this.layers[l];
      const input = l > 0 ? this.outputs[l - 1] : x;
      const delta = this.deltas[l];
      accumulateGradients(delta, input, weightGrads, biasGrads, padded, inputs, outputs);
      if (l === 0) break;
      for (let o = 0; o < outputs; o++)
        for (let k = 0; k < inputs; k++) transposed[k * outputs + o] = weights[o * inputs + k];
      const previous = this.deltas[l - 1];
      multiply(delta, transposed, undefined, previous, padded, outputs, inputs);
      for (let i = 0; i < padded * inputs; i++) previous[i] *= +(input[i] > 0);
    }
  }

  /** Adds the L2 penalty's gradient (weights only, not biases). */
  addL2(l2: number): void {
    for (const { weights, weightGrads } of this.layers)
      for (let i = 0; i < weights.length; i++) weightGrads[i] += l2 * weights[i];
  }

  /** The model's layers (float32) for a parameter snapshot laid out like `params`. */
  toDenseLayers(params: Float64Array): DenseLayer[] {
    let offset = 0;
    return this.layers.map(({ inputs, outputs }, l) => {
      const weights = Float32Array.from(params.subarray(offset, offset + inputs * outputs));
      offset += inputs * outputs;
      const bias = Float32Array.from(params.subarray(offset, offset + outputs));
      offset += outputs;
      return { inputs, outputs, weights, bias, activation: l < this.layers.length - 1 ? 'relu' : 'none' };
    });
  }
}
