/**
 * The built-in trainer: logistic regression or a small relu MLP, fitted with mini-batch Adam on
 * binary cross-entropy, early-stopped on validation log-loss (best weights kept). Deterministic:
 * the same data, params and seed give bit-identical weights.
 */
import type { Column } from '../../feature-store/types.js';
import { Adam } from './adam.js';
import { fitInputs } from './fit-inputs.js';
import { binaryMetrics, type BinaryMetrics } from './metrics.js';
import { type BuiltinModel, inputWidth, logits, preprocess } from './model.js';
import { Network, padRows } from './network.js';
import { mulberry32, shuffle } from './prng.js';

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
}

export interface TrainingProgress {
  epoch: number;
  trainLoss: number;
  validLoss: number;
  samplesPerSecond: number;
}

export interface TrainingResult {
  model: BuiltinModel;
  /** Validation metrics of the returned (best) model, computed as the exported model computes. */
  metrics: BinaryMetrics & { bestEpoch: number };
  /** Epochs run (early stopping may end before maxEpochs). */
  epochs: number;
}

export async function trainBuiltin(
  data: TrainingData,
  valid: TrainingData,
  params: BuiltinParams,
  onProgress?: (progress: TrainingProgress) => void | Promise<void>,
): Promise<TrainingResult> {
  const hidden = params.kind === 'mlp' ? (params.hidden ?? [64, 32]) : [];
  const learningRate = params.learningRate ?? (params.kind === 'mlp' ? 1e-3 : 1e-2);
  const batchSize = params.batchSize ?? 1024;
  const maxEpochs = params.maxEpochs ?? 20;
  const patience = params.patience ?? 3;
  const l2 = params.l2 ?? 0;
  if (data.rows === 0 || valid.rows === 0)
    throw new Error('training needs non-empty train and validation rows');
  if (!(batchSize >= 1 && maxEpochs >= 1 && patience >= 1))
    throw new Error('batchSize, maxEpochs and patience must be at least 1');

  const inputs = fitInputs(
    data.columns,
    data.rows,
    params.features ?? Object.keys(data.columns),
    params.maxCategories ?? 32,
  );
  const width = inputWidth(inputs);
  const trainX = preprocess(inputs, data.columns, data.rows);
  const validX = preprocess(inputs, valid.columns, valid.rows);

  const random = mulberry32(params.seed ?? 42);
  const network = new Network([width, ...hidden, 1], batchSize, random);
  const adam = new Adam(network.params.length, learningRate);
  const batchX = new Float64Array(padRows(batchSize) * width);
  const batchY = new Uint8Array(batchSize);
  const logitGrads = new Float64Array(batchSize);
  const order = Int32Array.from({ length: data.rows }, (_, i) => i);
  const best = Float64Array.from(network.params);
  let bestLoss = Infinity;
  let bestEpoch = 0;
  let epoch = 0;

  while (epoch < maxEpochs && epoch - bestEpoch < patience) {
    epoch++;
    const started = performance.now();
    shuffle(order, random);
    let lossSum = 0;
    let yielded = performance.now();
    for (let start = 0; start < data.rows; start += batchSize) {
      // Let the event loop run about once a second: activity heartbeats and cancellation go through it.
      if (performance.now() - yielded > 1000) {
        await new Promise((resolve) => setImmediate(resolve));
        yielded = performance.now();
      }
      const rows = Math.min(batchSize, data.rows - start);
      gather(trainX, data.label, width, order, start, rows, batchX, batchY);
      const z = network.forward(batchX, rows);
      lossSum += crossEntropy(z, batchY, rows, logitGrads);
      network.backward(batchX, rows, logitGrads);
      if (l2 > 0) network.addL2(l2);
      adam.step(network.params, network.grads);
    }
    const seconds = (performance.now() - started) / 1000;
    const validLoss = validationLoss(network, validX, valid.label, valid.rows, width, batchSize, batchX);
    if (validLoss < bestLoss) {
      bestLoss = validLoss;
      bestEpoch = epoch;
      best.set(network.params);
    }
    await onProgress?.({
      epoch,
      trainLoss: lossSum / data.rows,
      validLoss,
      samplesPerSecond: data.rows / seconds,
    });
  }

  const model: BuiltinModel = { kind: params.kind, inputs, layers: network.toDenseLayers(best) };
  const z = logits(model.layers, validX, valid.rows);
  const probabilities = Float64Array.from(z, (v) => 1 / (1 + Math.exp(-v)));
  return { model, metrics: { ...binaryMetrics(valid.label, probabilities), bestEpoch }, epochs: epoch };
}

/** Copies rows order[start..start+rows) of x and y into the batch buffers. */
function gather(
  x: Float32Array,
  y: Uint8Array,
  width: number,
  order: Int32Array,
  start: number,
  rows: number,
  batchX: Float64Array,
  batchY: Uint8Array,
): void {
  for (let r = 0; r < rows; r++) {
    const row = order[start + r];
    batchY[r] = y[row];
    const from = row * width;
    const to = r * width;
    for (let k = 0; k < width; k++) batchX[to + k] = x[from + k];
  }
}

/** Binary cross-entropy of one logit, in the form that cannot overflow. */
function bce(logit: number, y: number): number {
  return Math.max(logit, 0) - logit * y + Math.log1p(Math.exp(-Math.abs(logit)));
}

/** Sum of cross-entropy over the batch; d mean loss / d logit into `grads`. */
function crossEntropy(z: Float64Array, y: Uint8Array, rows: number, grads: Float64Array): number {
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    sum += bce(z[r], y[r]);
    grads[r] = (1 / (1 + Math.exp(-z[r])) - y[r]) / rows;
  }
  return sum;
}

/** Mean validation cross-entropy, batch by batch through the training buffers. */
function validationLoss(
  network: Network,
  x: Float32Array,
  y: Uint8Array,
  total: number,
  width: number,
  batchSize: number,
  batchX: Float64Array,
): number {
  let sum = 0;
  for (let start = 0; start < total; start += batchSize) {
    const rows = Math.min(batchSize, total - start);
    batchX.set(x.subarray(start * width, (start + rows) * width));
    const z = network.forward(batchX, rows);
    for (let r = 0; r < rows; r++) sum += bce(z[r], y[start + r]);
  }
  return sum / total;
}
