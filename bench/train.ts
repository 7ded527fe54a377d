/**
 * bench:train — the built-in trainer on the flights training set (train Jan–Apr, validate May,
 * test June): samples/s of the MLP (on 2 threads) and test AUC beside a majority-class baseline
 * (AUC 0.5) and logistic regression. Ends with one JSON line.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  flightFeatureRefs,
  FLIGHTS_SPLIT,
  flightsTrainingSetRequest,
} from '../examples/flights/training-set.js';
import { featureColumnName } from '../feature-store/index.js';
import { readLabeledArrow } from '../models/arrow-table.js';
import { runTrainingSetBuild } from '../runtime/training-set-runner.js';
import { auc } from '../models/metrics.js';
import { predictProbabilities } from '../trainers/builtin/model.js';
import { DEFAULT_THREADS, trainBuiltin, type BuiltinParams } from '../trainers/builtin/train.js';
import { log, round, runBench, withBenchStack } from './bench-stack.js';
import { prepareFlights } from './flights-setup.js';

const FEATURES = flightFeatureRefs().map(({ view, feature }) => featureColumnName(view, feature));

async function main() {
  await withBenchStack('train', async (stack) => {
    const { config, temporal, work } = stack;
    const spine = await prepareFlights(stack);
    log('building the flights training set…');
    const { manifest } = await runTrainingSetBuild(
      { temporal, taskQueue: config.taskQueue },
      flightsTrainingSetRequest(spine, path.join(work, 'flights.arrow'), { split: FLIGHTS_SPLIT, shards: 2 }),
    );
    const read = (name: 'train' | 'validation' | 'test') =>
      readLabeledArrow(readFileSync(manifest.split!.files[name].path), 'delayed');
    const [train, valid, test] = [read('train'), read('validation'), read('test')];

    const run = async (params: BuiltinParams) => {
      log(`training ${params.kind} on ${train.rows.toLocaleString('en-US')} rows…`);
      const rates: number[] = [];
      const result = await trainBuiltin(train, valid, { ...params, features: FEATURES }, (p) => {
        rates.push(p.samplesPerSecond);
        log(
          `  epoch ${p.epoch}: train ${p.trainLoss.toFixed(4)}, valid ${p.validLoss.toFixed(4)}, ${Math.round(p.samplesPerSecond)} samples/s`,
        );
      });
      const testAuc = auc(test.label, predictProbabilities(result.model, test.columns, test.rows));
      return { result, testAuc, samplesPerS: rates.reduce((a, b) => a + b, 0) / rates.length };
    };
    const threads = DEFAULT_THREADS;
    const mlp = await run({
      kind: 'mlp',
      hidden: [64, 32],
      batchSize: 1024,
      maxEpochs: 8,
      patience: 2,
      seed: 42,
      threads,
    });
    const logistic = await run({ kind: 'logistic', batchSize: 1024, maxEpochs: 8, patience: 2, seed: 42 });
    console.log(
      JSON.stringify({
        trainer: 'builtin',
        model: 'mlp 64-32',
        rows: train.rows,
        features: FEATURES.length,
        epochs: mlp.result.epochs,
        threads,
        samples_per_s: Math.round(mlp.samplesPerS),
        auc_valid: round(mlp.result.metrics.auc),
        auc_test: round(mlp.testAuc),
        auc_test_logistic: round(logistic.testAuc),
        logistic_samples_per_s: Math.round(logistic.samplesPerS),
        auc_majority_baseline: 0.5,
      }),
    );
  });
}

runBench(main);
