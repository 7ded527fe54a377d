/**
 * The dense network while it trains, on one thread: float32 copies of the parameters plus the batch,
 * activations and gradients, all in the kernels' memory and sized once for the largest batch. Hidden
 * layers are relu, the last layer is one linear logit. Batches are padded to whole row blocks:
 * padding rows get a zero logit gradient, so they change nothing.
 */
import { instantiateKernels, type Kernels, ROW_BLOCK, roundUp } from './kernels.js';
import type { ParameterLayout } from './layout.js';

/** Rows rounded up to the kernels' row block. */
const padRows = (rows: number): number => roundUp(rows, ROW_BLOCK);

/** Offsets (in floats) of one layer's buffers in the kernels' memory. */
interface LayerBuffers {
  /** Weights output-major (paddedOutputs × paddedInputs), for passing gradients back (so not in layer 0). */
  weightsByOutput: number;
  /** rows × paddedOutputs, post-activation. */
  outputs: number;
  /** rows × paddedOutputs: d loss / d pre-activation. */
  deltas: number;
}

export class Network {
  private readonly kernels: Kernels;
  private readonly memory: Float32Array;
  /** Real input width. */
  private readonly width: number;
  // Offsets (in floats) into the kernels' memory:
  /** float32 parameters and gradients, laid out as `layout`. */
  private readonly params: number;
  private readonly grads: number;
  /** The batch: rows × paddedInputs of layer 0. */
  private readonly input: number;
  /** A bias of zeros, for passing gradients back. */
  private readonly zeros: number;
  private readonly buffers: LayerBuffers[];

  constructor(
    module: WebAssembly.Module,
    private readonly layout: ParameterLayout,
    maxRows: number,
  ) {
    const rows = padRows(maxRows);
    const { layers } = layout;
    let floats = 0;
    const allocate = (n: number) => (floats += n) - n;
    this.params = allocate(layout.size);
    this.grads = allocate(layout.size);
    this.input = allocate(rows * layers[0].paddedInputs);
    this.zeros = allocate(Math.max(...layers.map((layer) => layer.paddedInputs)));
    this.buffers = layers.map((layer, l) => ({
      weightsByOutput: l > 0 ? allocate(layer.paddedInputs * layer.paddedOutputs) : -1,
      outputs: allocate(rows * layer.paddedOutputs),
      deltas: allocate(rows * layer.paddedOutputs),
    }));
    this.kernels = instantiateKernels(module, floats * 4);
    this.memory = new Float32Array(this.kernels.memory.buffer);
    this.width = layers[0].inputs;
  }

  /** Batch row r := preprocessed row `row` of x (rows × input width). */
  setRow(r: number, x: Float32Array, row: number): void {
    const { memory, width } = this;
    const to = this.input + r * this.layout.layers[0].paddedInputs;
    const from = row * width;
    for (let k = 0; k < width; k++) memory[to + k] = x[from + k];
  }

  /** Copies in the (float64) parameters: after each optimizer step. */
  loadParams(params: Float64Array): void {
    const { memory } = this;
    for (let i = 0; i < params.length; i++) memory[this.params + i] = params[i];
    for (let l = 1; l < this.layout.layers.length; l++) {
      const { paddedInputs, paddedOutputs, weights } = this.layout.layers[l];
      const to = this.buffers[l].weightsByOutput;
      for (let k = 0; k < paddedInputs; k++)
        for (let o = 0; o < paddedOutputs; o++)
          memory[to + o * paddedInputs + k] = params[weights + k * paddedOutputs + o];
    }
  }

  /** Forward pass over the first `rows` batch rows; then `logit(r)` reads the results. */
  forward(rows: number): void {
    const padded = padRows(rows);
    let input = this.input;
    for (const [l, { paddedInputs, paddedOutputs, weights, bias, relu }] of this.layout.layers.entries()) {
      const { outputs } = this.buffers[l];
      this.kernels.multiply(
        4 * input,
        4 * (this.params + weights),
        4 * (this.params + bias),
        4 * outputs,
        padded,
        paddedInputs,
        paddedOutputs,
        +relu,
      );
      input = outputs;
    }
  }

  logit(r: number): number {
    const { layers } = this.layout;
    return this.memory[this.buffers[layers.length - 1].outputs + r * layers[layers.length - 1].paddedOutputs];
  }

  /**
   * Gradients (float32, laid out as the parameters) after `forward` on the same rows, given
   * d loss / d logit per row.
   */
  backward(rows: number, logitGrads: Float64Array): void {
    const { kernels, memory, buffers } = this;
    const { layers } = this.layout;
    const padded = padRows(rows);
    const last = layers.length - 1;
    for (let r = 0; r < padded; r++)
      memory[buffers[last].deltas + r * layers[last].paddedOutputs] = r < rows ? logitGrads[r] : 0;
    for (let l = last; l >= 0; l--) {
      const { paddedInputs, paddedOutputs, weights, bias } = layers[l];
      const { deltas, weightsByOutput } = buffers[l];
      const input = l > 0 ? buffers[l - 1].outputs : this.input;
      kernels.weightGradients(
        4 * input,
        4 * deltas,
        4 * (this.grads + weights),
        rows,
        paddedInputs,
        paddedOutputs,
      );
      kernels.biasGradients(4 * deltas, 4 * (this.grads + bias), rows, paddedOutputs);
      if (l === 0) break;
      const previous = buffers[l - 1];
      kernels.multiply(
        4 * deltas,
        4 * weightsByOutput,
        4 * this.zeros,
        4 * previous.deltas,
        padded,
        paddedOutputs,
        paddedInputs,
        0,
      );
      kernels.reluGradient(4 * previous.deltas, 4 * previous.outputs, 4 * padded * paddedInputs);
    }
  }

  /** Copies the gradients out (float64). */
  storeGrads(grads: Float64Array): void {
    for (let i = 0; i < grads.length; i++) grads[i] = this.memory[this.grads + i];
  }
}
