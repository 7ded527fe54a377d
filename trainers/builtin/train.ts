/**
 * The built-in trainer: logistic regression or a small relu MLP, fitted with mini-batch Adam on
 * binary cross-entropy, early-stopped on validation log-loss (best weights kept). Data-parallel:
 * each thread computes the gradient of a fixed slice of every batch (threads.ts). Deterministic: the
 * same data, params and seed give bit-identical weights, whatever the threads' timing.
 */
import { InvalidInputError, type Column } from '../../feature-store/index.js';
import { Adam } from './adam.js';
import { fitInputs } from './fit-inputs.js';
import { ParameterLayout } from './layout.js';
import { binaryMetrics, type BinaryMetrics } from '../../models/metrics.js';
import { type BuiltinModel, inputWidth, logits, preprocess } from './model.js';
import { mulberry32, shuffle } from '../../models/prng.js';
import { sharedArray, type SharedTraining } from './shard.js';
import { TrainingThreads } from './threads.js';

/**
 * Fixed rather than taken from the host's core count: the thread count changes how gradients are
 * summed, and the same params must give the same model on every host (one core just runs slower).
 */
export const DEFAULT_THREADS = 2;

export interface TrainingData {
  columns: Record<string, Column>;
  /** 0/1 per row. */
  label: Uint8Array;
  rows: number;
}

export interface BuiltinParams {
  kind: 'logistic' | 'mlp';
  /** Hidden layer widths (mlp only); default [64, 32]. */
  hidden?: readonly number[];
  /** Default 1e-3 for mlp, 1e-2 for logistic. */
  learningRate?: number;
  batchSize?: number;
  maxEpochs?: number;
  /** Epochs without a better validation log-loss before stopping. */
  patience?: number;
  seed?: number;
  /** L2 penalty on weights (not biases). */
  l2?: number;
  /** Feature columns to use; default: all columns. */
  features?: readonly string[];
  /** A string column with more distinct training values is rejected. */
  maxCategories?: number;
  /** Training threads (default 2); results are bit-identical for a given count, not across counts. */
  threads?: number;
}

export interface TrainingProgress {
  epoch: number;
  trainLoss: number;
  validLoss: number;
  samplesPerSecond: number;
}

export interface TrainingResult {
  model: BuiltinModel;
  /**
   * Validation metrics of the returned (best) model, from its epoch's validation pass: the kernels'
   * float32 arithmetic, as the exported model's up to the order of sums (so up to rounding).
   */
  metrics: BinaryMetrics & { bestEpoch: number };
  /** Epochs run (early stopping may end before maxEpochs). */
  epochs: number;
}

export async function trainBuiltin(
  data: TrainingData,
  valid: TrainingData,
  params: BuiltinParams,
  onProgress?: (progress: TrainingProgress) => void | Promise<void>,
  /** Aborting stops training at the next yield (about a second) with the signal's reason. */
  signal?: AbortSignal,
): Promise<TrainingResult> {
  const hidden = params.kind === 'mlp' ? (params.hidden ?? [64, 32]) : [];
  const learningRate = params.learningRate ?? (params.kind === 'mlp' ? 1e-3 : 1e-2);
  const batchSize = params.batchSize ?? 1024;
  const maxEpochs = params.maxEpochs ?? 20;
  const patience = params.patience ?? 3;
  const l2 = params.l2 ?? 0;
  const threadCount = params.threads ?? DEFAULT_THREADS;
  if (data.rows === 0 || valid.rows === 0)
    throw new InvalidInputError('training needs non-empty train and validation rows');
  if (!(batchSize >= 1 && maxEpochs >= 1 && patience >= 1 && threadCount >= 1))
    throw new Error('batchSize, maxEpochs, patience and threads must be at least 1');

  const inputs = fitInputs(
    data.columns,
    data.rows,
    params.features ?? Object.keys(data.columns),
    params.maxCategories ?? 32,
  );
  const width = inputWidth(inputs);
  const sizes = [width, ...hidden, 1];
  const layout = new ParameterLayout(sizes);
  const shared: SharedTraining = {
    sizes,
    batchSize,
    trainX: preprocess(inputs, data.columns, data.rows, sharedArray(Float32Array, data.rows * width)),
    trainY: sharedCopy(data.label, data.rows),
    order: sharedArray(Int32Array, data.rows),
    validX: preprocess(inputs, valid.columns, valid.rows, sharedArray(Float32Array, valid.rows * width)),
    validY: sharedCopy(valid.label, valid.rows),
    validLogits: sharedArray(Float32Array, valid.rows),
    params: sharedArray(Float64Array, layout.size),
    grads: Array.from({ length: threadCount }, () => sharedArray(Float64Array, layout.size)),
    losses: sharedArray(Float64Array, threadCount),
  };
  for (let i = 0; i < data.rows; i++) shared.order[i] = i;

  const threads = await TrainingThreads.start(shared);
  try {
    const parameters = shared.params;
    // Thread 0's buffer: batchGradient sums the whole batch's gradient into it.
    const gradient = shared.grads[0];
    const random = mulberry32(params.seed ?? 42);
    layout.initialize(parameters, random);
    const adam = new Adam(layout.size, learningRate);
    const best = Float64Array.from(parameters);
    const bestLogits = new Float32Array(valid.rows);
    let bestLoss = Infinity;
    let bestEpoch = 0;
    let epoch = 0;

    while (epoch < maxEpochs && epoch - bestEpoch < patience) {
      signal?.throwIfAborted();
      epoch++;
      const started = performance.now();
      shuffle(shared.order, random);
      let lossSum = 0;
      let yielded = performance.now();
      for (let start = 0; start < data.rows; start += batchSize) {
        // Let the event loop run about once a second: activity heartbeats and cancellation go through it.
        if (performance.now() - yielded > 1000) {
          await new Promise((resolve) => setImmediate(resolve));
          signal?.throwIfAborted();
          yielded = performance.now();
        }
        lossSum += await threads.batchGradient(start, Math.min(batchSize, data.rows - start));
        if (l2 > 0) layout.addL2(parameters, gradient, l2);
        adam.step(parameters, gradient);
      }
      const seconds = (performance.now() - started) / 1000;
      const validLoss = (await threads.validationLoss()) / valid.rows;
      if (validLoss < bestLoss) {
        bestLoss = validLoss;
        bestEpoch = epoch;
        best.set(parameters);
        bestLogits.set(shared.validLogits);
      }
      await onProgress?.({
        epoch,
        trainLoss: lossSum / data.rows,
        validLoss,
        samplesPerSecond: data.rows / seconds,
      });
    }

    const model: BuiltinModel = { kind: params.kind, inputs, layers: layout.toDenseLayers(best) };
    // No epoch improved on the initial loss (it diverged): the returned model is the initial one,
    // which no validation pass scored — score it here.
    const z = bestEpoch > 0 ? bestLogits : logits(model.layers, shared.validX, valid.rows);
    const probabilities = Float64Array.from(z, (v) => 1 / (1 + Math.exp(-v)));
    return { model, metrics: { ...binaryMetrics(valid.label, probabilities), bestEpoch }, epochs: epoch };
  } finally {
    await threads.close();
  }
}

/** The first `rows` values in shared memory. */
function sharedCopy(values: Uint8Array, rows: number): Uint8Array {
  const copy = sharedArray(Uint8Array, rows);
  copy.set(values.subarray(0, rows));
  return copy;
}
