/**
 * How the trainer lays out a network's parameters in one flat Float64Array (so Adam, gradient sums
 * and best-weight snapshots are single loops, and training threads can share it): per layer the
 * weights, input-major as the kernels read them, then the bias. Widths are padded to the kernels'
 * blocks; padding weights start at zero and get zero gradients, so they stay zero.
 */
import { INPUT_BLOCK, OUTPUT_BLOCK, roundUp } from './kernels.js';
import type { DenseLayer } from './model.js';
import { gaussian } from '../../models/prng.js';

export interface LayerLayout {
  inputs: number;
  outputs: number;
  paddedInputs: number;
  paddedOutputs: number;
  /** Offset of the weights (paddedInputs × paddedOutputs) in the parameters. */
  weights: number;
  /** Offset of the bias (paddedOutputs). */
  bias: number;
  /** Hidden layers are relu, the last one is the linear logit. */
  relu: boolean;
}

export class ParameterLayout {
  readonly layers: LayerLayout[] = [];
  /** Length of the parameter (and gradient) buffer. */
  readonly size: number;

  /** sizes: input width, hidden widths…, 1. */
  constructor(sizes: readonly number[]) {
    let offset = 0;
    let paddedInputs = roundUp(sizes[0], INPUT_BLOCK);
    for (let l = 1; l < sizes.length; l++) {
      const paddedOutputs = roundUp(sizes[l], OUTPUT_BLOCK);
      const weights = offset;
      const bias = weights + paddedInputs * paddedOutputs;
      offset = bias + paddedOutputs;
      const relu = l < sizes.length - 1;
      this.layers.push({
        inputs: sizes[l - 1],
        outputs: sizes[l],
        paddedInputs,
        paddedOutputs,
        weights,
        bias,
        relu,
      });
      paddedInputs = paddedOutputs;
    }
    this.size = offset;
  }

  /** Random initial weights (biases stay 0): He init for relu layers, LeCun for the logit. */
  initialize(params: Float64Array, random: () => number): void {
    for (const { inputs, outputs, paddedOutputs, weights, relu } of this.layers) {
      const scale = Math.sqrt((relu ? 2 : 1) / Math.max(1, inputs));
      for (let o = 0; o < outputs; o++)
        for (let k = 0; k < inputs; k++) params[weights + k * paddedOutputs + o] = gaussian(random) * scale;
    }
  }

  /** Adds the L2 penalty's gradient (weights only, not biases). */
  addL2(params: Float64Array, grads: Float64Array, l2: number): void {
    for (const { weights, bias } of this.layers)
      for (let i = weights; i < bias; i++) grads[i] += l2 * params[i];
  }

  /** The model's layers (float32, outputs × inputs) for parameters in this layout. */
  toDenseLayers(params: Float64Array): DenseLayer[] {
    return this.layers.map(({ inputs, outputs, paddedOutputs, weights, bias, relu }) => {
      const dense = new Float32Array(outputs * inputs);
      for (let o = 0; o < outputs; o++)
        for (let k = 0; k < inputs; k++) dense[o * inputs + k] = params[weights + k * paddedOutputs + o];
      return {
        inputs,
        outputs,
        weights: dense,
        bias: Float32Array.from(params.subarray(bias, bias + outputs)),
        activation: relu ? 'relu' : 'none',
      };
    });
  }
}
