/**
 * One training thread's part of the data-parallel work: the gradient of a fixed slice of each
 * mini-batch and the loss over a fixed slice of the validation rows. Each thread writes only its own
 * gradient buffer and loss slot, so the trainer can combine them in thread order.
 */
import { ParameterLayout } from './layout.js';
import { Network } from './network.js';

/** What every training thread sees, all in shared memory: data and weights exist once. */
export interface SharedTraining {
  /** Layer sizes: input width, hidden widths…, 1. */
  sizes: number[];
  batchSize: number;
  /** Preprocessed rows (rows × input width) and their 0/1 labels. */
  trainX: Float32Array;
  trainY: Uint8Array;
  /** This epoch's row order: a batch is order[start, start + rows). */
  order: Int32Array;
  validX: Float32Array;
  validY: Uint8Array;
  /** The validation logits of the last validation pass, each thread writing its slice. */
  validLogits: Float32Array;
  /** Laid out as ParameterLayout(sizes). */
  params: Float64Array;
  /** One gradient buffer per thread (the thread count is its length). */
  grads: Float64Array[];
  /** One loss sum per thread, from its last command. */
  losses: Float64Array;
}

/** A zeroed typed array in shared memory. */
export function sharedArray<T>(
  Type: { new (buffer: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number },
  length: number,
): T {
  return new Type(new SharedArrayBuffer(length * Type.BYTES_PER_ELEMENT));
}

export class Shard {
  private readonly network: Network;
  private readonly threads: number;
  private readonly maxRows: number;
  private readonly logitGrads: Float64Array;

  /** `kernels`: the compiled kernels module. */
  constructor(
    private readonly shared: SharedTraining,
    private readonly index: number,
    kernels: WebAssembly.Module,
  ) {
    this.threads = shared.grads.length;
    this.maxRows = Math.ceil(shared.batchSize / this.threads);
    this.network = new Network(kernels, new ParameterLayout(shared.sizes), this.maxRows);
    this.logitGrads = new Float64Array(this.maxRows);
  }

  /**
   * This thread's slice of the gradient of the batch's mean cross-entropy (the slices add up to the
   * whole), into its gradient buffer; its slice's loss sum into its loss slot.
   */
  batchGradient(start: number, batchRows: number): void {
    const { trainX, trainY, order, params, grads, losses } = this.shared;
    const { network, logitGrads } = this;
    const [from, to] = this.slice(batchRows);
    const rows = to - from;
    network.loadParams(params);
    for (let r = 0; r < rows; r++) network.setRow(r, trainX, order[start + from + r]);
    network.forward(rows);
    let sum = 0;
    for (let r = 0; r < rows; r++) {
      const z = network.logit(r);
      const y = trainY[order[start + from + r]];
      sum += crossEntropy(z, y);
      logitGrads[r] = (1 / (1 + Math.exp(-z)) - y) / batchRows;
    }
    losses[this.index] = sum;
    network.backward(rows, logitGrads);
    network.storeGrads(grads[this.index]);
  }

  /**
   * Sum of cross-entropy over this thread's slice of the validation rows, into its loss slot; their
   * logits into its slice of `validLogits`.
   */
  validationLoss(): void {
    const { validX, validY, validLogits, params, losses } = this.shared;
    const { network, maxRows } = this;
    const [from, to] = this.slice(validY.length);
    network.loadParams(params);
    let sum = 0;
    for (let start = from; start < to; start += maxRows) {
      const rows = Math.min(maxRows, to - start);
      for (let r = 0; r < rows; r++) network.setRow(r, validX, start + r);
      network.forward(rows);
      for (let r = 0; r < rows; r++) {
        const z = network.logit(r);
        validLogits[start + r] = z;
        sum += crossEntropy(z, validY[start + r]);
      }
    }
    losses[this.index] = sum;
  }

  /** Rows [from, to) of `total` that this thread takes. */
  private slice(total: number): [number, number] {
    const { index, threads } = this;
    return [Math.floor((total * index) / threads), Math.floor((total * (index + 1)) / threads)];
  }
}

/** Binary cross-entropy of one logit, in the form that cannot overflow. */
function crossEntropy(logit: number, y: number): number {
  return Math.max(logit, 0) - logit * y + Math.log1p(Math.exp(-Math.abs(logit)));
}
