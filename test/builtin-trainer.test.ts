import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import type { Column } from '../feature-store/definitions/types.js';
import { auc, binaryMetrics, expectedCalibrationError, logLoss } from '../models/metrics.js';
import { predictProbabilities } from '../trainers/builtin/model.js';
import { gaussian, mulberry32 } from '../models/prng.js';
import { trainBuiltin, type TrainingData } from '../trainers/builtin/train.js';

const CATEGORY_EFFECT: Record<string, number> = { a: 1, b: 0, c: -1 };

/**
 * A known target: label = [3·x1 − 2·x2 + 0.5·x1·x2 + 0.5·x3 + effect(cat) + 0.5·flag > 0], with 1% of
 * labels flipped. x3 is missing for 10% of rows (the label then uses its fill, 0), cat for 5%.
 */
function synthetic(rows: number, seed: number, options: { flipAll?: boolean } = {}): TrainingData {
  const random = mulberry32(seed);
  const numeric = () => ({ values: new Float64Array(rows), valid: new Uint8Array(rows).fill(1) });
  const [x1, x2, x3] = [numeric(), numeric(), numeric()];
  const flag = { values: new Uint8Array(rows), valid: new Uint8Array(rows).fill(1) };
  const cat = { values: new Array<string | null>(rows), valid: new Uint8Array(rows).fill(1) };
  const label = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    x1.values[i] = gaussian(random);
    x2.values[i] = gaussian(random);
    x3.values[i] = gaussian(random);
    if (random() < 0.1) x3.valid[i] = 0;
    flag.values[i] = random() < 0.3 ? 1 : 0;
    cat.values[i] = 'abc'[Math.floor(random() * 3)];
    if (random() < 0.05) {
      cat.values[i] = null;
      cat.valid[i] = 0;
    }
    const z =
      3 * x1.values[i] -
      2 * x2.values[i] +
      0.5 * x1.values[i] * x2.values[i] +
      0.5 * (x3.valid[i] ? x3.values[i] : 0) +
      (cat.values[i] === null ? 0 : CATEGORY_EFFECT[cat.values[i]!]) +
      0.5 * flag.values[i];
    const noisy = z > 0 !== random() < 0.01;
    label[i] = noisy !== Boolean(options.flipAll) ? 1 : 0;
  }
  const columns: Record<string, Column> = {
    x1: { type: 'float64', ...x1 },
    x2: { type: 'float64', ...x2 },
    x3: { type: 'float64', ...x3 },
    flag: { type: 'bool', ...flag },
    cat: { type: 'string', ...cat },
  };
  return { columns, label, rows };
}

const train = synthetic(8000, 1);
const valid = synthetic(2000, 2);

describe('builtin trainer', () => {
  for (const kind of ['logistic', 'mlp'] as const) {
    test(`${kind} learns the synthetic target (validation AUC > 0.95)`, async () => {
      const progress: number[] = [];
      const result = await trainBuiltin(train, valid, { kind, batchSize: 256 }, (p) => {
        progress.push(p.epoch);
      });
      assert.ok(result.metrics.auc > 0.95, `AUC ${result.metrics.auc}`);
      assert.equal(progress.length, result.epochs);
      // The reported metrics are those of the returned model's own predictions (up to the rounding of
      // float32 sums: a near tie may swap two rows, which moves the AUC by 1/(positives × negatives)).
      const probabilities = predictProbabilities(result.model, valid.columns, valid.rows);
      assert.ok(Math.abs(auc(valid.label, probabilities) - result.metrics.auc) < 1e-5);
      assert.ok(Math.abs(logLoss(valid.label, probabilities) - result.metrics.logLoss) < 1e-6);
    });
  }

  test('preprocessing is fitted on the training split', async () => {
    const { model } = await trainBuiltin(train, valid, { kind: 'logistic', maxEpochs: 1 });
    const byName = Object.fromEntries(model.inputs.map((input) => [input.name, input]));
    assert.deepEqual(byName.cat, { kind: 'categorical', name: 'cat', categories: ['a', 'b', 'c'] });
    assert.equal(byName.x1.kind === 'numeric' && byName.x1.missingIndicator, false);
    assert.equal(byName.x3.kind === 'numeric' && byName.x3.missingIndicator, true);
    assert.equal(byName.flag.kind, 'numeric');
    const x1 = train.columns.x1.values as Float64Array;
    const mean = x1.reduce((s, v) => s + v, 0) / train.rows;
    assert.ok(byName.x1.kind === 'numeric' && Math.abs(byName.x1.mean - mean) < 1e-9);
  });

  test('the same seed gives identical weights, another seed different ones', async () => {
    const params = { kind: 'mlp', hidden: [16, 8], maxEpochs: 2, batchSize: 256 } as const;
    const weights = async (seed: number) =>
      (await trainBuiltin(train, valid, { ...params, seed })).model.layers;
    assert.deepEqual(await weights(7), await weights(7));
    assert.notDeepEqual(await weights(7), await weights(8));
  });

  test('1, 2 and 3 threads each learn the target and rerun bit-identically', async () => {
    const predictions = async (threads: number) => {
      const result = await trainBuiltin(train, valid, { kind: 'mlp', batchSize: 256, maxEpochs: 5, threads });
      assert.ok(result.metrics.auc > 0.95, `${threads} threads: AUC ${result.metrics.auc}`);
      return predictProbabilities(result.model, valid.columns, valid.rows);
    };
    // 3 threads split a batch of 256 unevenly (85, 85, 86 rows).
    for (const threads of [1, 2, 3]) assert.deepEqual(await predictions(threads), await predictions(threads));
  });

  test('a run that fails midway ends its worker threads', () => {
    // In a child process, which can only exit once no worker thread is left running.
    const script = `import(${JSON.stringify(new URL('../trainers/builtin/train.ts', import.meta.url).href)})
      .then(async ({ trainBuiltin }) => {
        const rows = 1000;
        const x = { type: 'float64', values: Float64Array.from({ length: rows }, (_, i) => i % 7), valid: new Uint8Array(rows).fill(1) };
        const data = { columns: { x }, label: Uint8Array.from({ length: rows }, (_, i) => i % 2), rows };
        await trainBuiltin(data, data, { kind: 'mlp', threads: 2 }, () => {
          throw new Error('progress callback failed');
        }).catch((error) => console.log(error.message));
      });`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(child.status, 0, `status ${child.status}, signal ${child.signal}: ${child.stderr}`);
    assert.equal(child.stdout.trim(), 'progress callback failed');
  });

  test('cancellation: an aborted signal stops training with its reason', async () => {
    const controller = new AbortController();
    const epochs: number[] = [];
    const cancelled = new Error('activity cancelled');
    await assert.rejects(
      trainBuiltin(
        train,
        valid,
        { kind: 'mlp', batchSize: 256, maxEpochs: 20, patience: 20 },
        (p) => {
          epochs.push(p.epoch);
          if (p.epoch === 2) controller.abort(cancelled);
        },
        controller.signal,
      ),
      (error) => error === cancelled,
    );
    assert.deepEqual(epochs, [1, 2], 'no epoch starts after the abort');
  });

  test('early stopping keeps the best epoch and stops after `patience` worse epochs', async () => {
    // Inverted validation labels: every epoch of learning makes validation loss worse.
    const inverted = synthetic(2000, 2, { flipAll: true });
    const result = await trainBuiltin(train, inverted, { kind: 'logistic', maxEpochs: 20, patience: 2 });
    assert.equal(result.metrics.bestEpoch, 1);
    assert.equal(result.epochs, 3);
  });

  test('a run that never improves returns its initial model, with its metrics', async () => {
    // A step this large sends the loss to NaN at once: no epoch is better than none.
    const result = await trainBuiltin(train, valid, {
      kind: 'mlp',
      learningRate: 1e30,
      maxEpochs: 2,
      patience: 1,
    });
    assert.equal(result.metrics.bestEpoch, 0);
    const probabilities = predictProbabilities(result.model, valid.columns, valid.rows);
    assert.equal(result.metrics.auc, auc(valid.label, probabilities));
    assert.ok(Number.isFinite(result.metrics.logLoss));
  });

  test('rejects a high-cardinality string column and a missing feature column', async () => {
    const ids = Array.from({ length: train.rows }, (_, i) => `id-${i % 50}`);
    const withIds: TrainingData = {
      ...train,
      columns: {
        ...train.columns,
        id: { type: 'string', values: ids, valid: new Uint8Array(train.rows).fill(1) },
      },
    };
    await assert.rejects(
      () => trainBuiltin(withIds, valid, { kind: 'logistic' }),
      /feature column "id" has 50 distinct values, more than maxCategories \(32\)/,
    );
    await assert.rejects(
      () => trainBuiltin(train, valid, { kind: 'logistic', features: ['x1', 'nope'] }),
      /feature column "nope" is missing/,
    );
  });
});

describe('binary metrics', () => {
  const labels = Uint8Array.of(0, 0, 1, 1);

  test('AUC: perfect ranking 1, reversed 0, all tied 0.5, one class NaN', () => {
    assert.equal(auc(labels, Float64Array.of(0.1, 0.2, 0.8, 0.9)), 1);
    assert.equal(auc(labels, Float64Array.of(0.9, 0.8, 0.2, 0.1)), 0);
    assert.equal(auc(labels, Float64Array.of(0.5, 0.5, 0.5, 0.5)), 0.5);
    // One positive tied with one negative: that pair counts half.
    assert.equal(auc(labels, Float64Array.of(0.1, 0.6, 0.6, 0.9)), 0.875);
    assert.ok(Number.isNaN(auc(Uint8Array.of(1, 1), Float64Array.of(0.2, 0.3))));
  });

  test('log-loss is clipped and accuracy thresholds at 0.5', () => {
    assert.ok(Math.abs(logLoss(Uint8Array.of(1), Float64Array.of(0.5)) - Math.LN2) < 1e-12);
    assert.ok(Number.isFinite(logLoss(Uint8Array.of(1), Float64Array.of(0))));
    const m = binaryMetrics(labels, Float64Array.of(0.2, 0.6, 0.5, 0.9));
    assert.equal(m.accuracy, 0.75);
    assert.equal(m.positiveRate, 0.5);
    assert.equal(m.predictedPositiveRate, 0.75);
  });

  test('ECE: small when calibrated, large when not', () => {
    const random = mulberry32(3);
    const n = 100_000;
    const probabilities = new Float64Array(n);
    const calibrated = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      probabilities[i] = random();
      calibrated[i] = random() < probabilities[i] ? 1 : 0;
    }
    assert.ok(expectedCalibrationError(calibrated, probabilities) < 0.01);
    assert.ok(
      expectedCalibrationError(
        calibrated,
        probabilities.map((p) => p * 0.5),
      ) > 0.2,
    );
  });
});
