import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Bool,
  Float64,
  Int64,
  Table,
  tableToIPC,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import type { Column } from '../feature-store/definitions/types.js';
import { readLabeledArrow } from '../models/arrow-table.js';
import { evaluateModels, type ModelEvaluation, type ScoredModel } from '../models/evaluation.js';
import { DEFAULT_GATE_CONFIG, evaluateGates, parseGateConfig } from '../models/gates.js';
import { binaryMetrics } from '../models/metrics.js';
import { exportOnnx } from '../trainers/builtin/onnx-export.js';
import { createOnnxScorer, type OnnxScorer } from '../models/onnx-scorer.js';
import { gaussian, mulberry32 } from '../models/prng.js';
import { trainBuiltin, type TrainingData } from '../trainers/builtin/train.js';

const REGIONS = ['north', 'south', 'east'];
const REGION_EFFECT: Record<string, number> = { north: 0.5, south: 0, east: -0.5 };

/** label = [2·x1 + x2 + effect(region) + noise > 0]; `irrelevant` has no effect on the label. */
function synthetic(rows: number, seed: number): TrainingData {
  const random = mulberry32(seed);
  const numeric = () => ({
    type: 'float64' as const,
    values: new Float64Array(rows),
    valid: new Uint8Array(rows).fill(1),
  });
  const [x1, x2, irrelevant] = [numeric(), numeric(), numeric()];
  const region: Column = {
    type: 'string',
    values: new Array<string | null>(rows),
    valid: new Uint8Array(rows).fill(1),
  };
  const label = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    x1.values[i] = gaussian(random);
    x2.values[i] = gaussian(random);
    irrelevant.values[i] = gaussian(random);
    const r = REGIONS[Math.floor(random() * REGIONS.length)];
    (region.values as (string | null)[])[i] = r;
    const z = 2 * x1.values[i] + x2.values[i] + REGION_EFFECT[r] + 0.8 * gaussian(random);
    label[i] = z > 0 ? 1 : 0;
  }
  return { columns: { x1, x2, irrelevant, region }, label, rows };
}

const train = synthetic(4000, 1);
const valid = synthetic(1000, 2);
const holdout = synthetic(2000, 3);
const regionKeys = holdout.columns.region.values as (string | null)[];

const GOOD_FEATURES = ['x1', 'x2', 'irrelevant', 'region'];
/** Deliberately worse: without x1, the strongest feature. */
const WORSE_FEATURES = ['x2', 'irrelevant'];

function scored(name: string, scorer: OnnxScorer, features: string[]): ScoredModel {
  return { name, features, score: (columns, rows) => scorer.score(columns, rows) };
}

describe('model evaluation and promotion gates', () => {
  let good: OnnxScorer;
  let worse: OnnxScorer;
  let evaluations: Record<string, ModelEvaluation>;

  before(async () => {
    const fit = async (features: string[]) =>
      (await trainBuiltin(train, valid, { kind: 'logistic', features, maxEpochs: 10, batchSize: 256 })).model;
    good = await createOnnxScorer(exportOnnx(await fit(GOOD_FEATURES)));
    worse = await createOnnxScorer(exportOnnx(await fit(WORSE_FEATURES)));
    evaluations = await evaluateModels({
      test: { ...holdout, slices: { region: regionKeys } },
      models: [scored('champion', good, GOOD_FEATURES), scored('challenger', worse, WORSE_FEATURES)],
      robustness: { seed: 7 },
    });
  });

  after(async () => {
    await good?.release();
    await worse?.release();
  });

  test('both models are scored on the same holdout rows', async () => {
    const { champion, challenger } = evaluations;
    assert.equal(champion.overall.rows, holdout.rows);
    assert.equal(challenger.overall.rows, holdout.rows);
    assert.equal(champion.overall.positiveRate, challenger.overall.positiveRate);
    // Overall metrics are exactly those of the ONNX scores on the holdout.
    const expected = binaryMetrics(holdout.label, await good.score(holdout.columns, holdout.rows));
    assert.deepEqual(champion.overall, expected);
    assert.ok(champion.overall.auc > 0.9, `good AUC ${champion.overall.auc}`);
    assert.ok(challenger.overall.auc < champion.overall.auc - 0.05, `worse AUC ${challenger.overall.auc}`);
    // Per-slice metrics cover every row once.
    for (const evaluation of [champion, challenger]) {
      const slices = Object.values(evaluation.slices.region);
      assert.equal(slices.length, 3);
      assert.equal(
        slices.reduce((n, s) => n + s.rows, 0),
        holdout.rows,
      );
      for (const s of slices) assert.ok(s.tpr >= 0 && s.tpr <= 1 && s.auc > 0.5);
    }
    assert.deepEqual(champion.fairness.region.comparedValues.sort(), [...REGIONS].sort());
  });

  test('the good model passes the gates without a champion; the worse challenger fails the AUC gate', () => {
    const first = evaluateGates(parseGateConfig({ minAuc: 0.8, maxEce: 0.3 }), evaluations.champion);
    assert.equal(first.passed, true, JSON.stringify(first.checks));
    assert.deepEqual(
      first.checks.map((c) => c.gate),
      ['minAuc', 'maxEce'],
    );
    assert.match(first.checks[0].reason, /^AUC 0\.\d{3} is at least the minimum 0\.800$/);
    const strict = evaluateGates(parseGateConfig({ minAuc: 0.99, maxEce: 0.01 }), evaluations.champion);
    assert.equal(strict.passed, false);
    assert.deepEqual(
      strict.checks.map((c) => [c.gate, c.passed]),
      [
        ['minAuc', false],
        ['maxEce', false],
      ],
    );
    assert.match(strict.checks[0].reason, /^AUC 0\.\d{3} is below the minimum 0\.990$/);
    assert.match(strict.checks[1].reason, /^calibration error \(ECE\) 0\.\d{3} is above the maximum 0\.010$/);
    // Without any absolute gate the first model promotes.
    assert.deepEqual(evaluateGates(DEFAULT_GATE_CONFIG, evaluations.champion), { passed: true, checks: [] });

    const outcome = evaluateGates(
      parseGateConfig({ maxAucDrop: 0.01 }),
      evaluations.challenger,
      evaluations.champion,
    );
    assert.equal(outcome.passed, false);
    const aucCheck = outcome.checks.find((c) => c.gate === 'aucDrop')!;
    assert.equal(aucCheck.passed, false);
    assert.equal(aucCheck.challenger, evaluations.challenger.overall.auc);
    assert.equal(aucCheck.champion, evaluations.champion.overall.auc);
    assert.ok(Math.abs(aucCheck.limit - (evaluations.champion.overall.auc - 0.01)) < 1e-12);
    const drop = (evaluations.champion.overall.auc - evaluations.challenger.overall.auc).toFixed(3);
    assert.equal(
      aucCheck.reason,
      `AUC ${evaluations.challenger.overall.auc.toFixed(3)} is ${drop} below the champion's ` +
        `${evaluations.champion.overall.auc.toFixed(3)}; allowed drop 0.01`,
    );

    // The champion re-evaluated against itself passes every relative gate.
    const same = evaluateGates(DEFAULT_GATE_CONFIG, evaluations.champion, evaluations.champion);
    assert.equal(same.passed, true);
    assert.deepEqual(
      same.checks.map((c) => c.gate),
      ['aucDrop', 'fairness.tprGap[region]', 'fairness.positiveRateGap[region]'],
    );
  });

  test('robustness: nulling a relied-on feature costs more AUC than nulling an irrelevant one', () => {
    const { robustness } = evaluations.champion;
    assert.deepEqual(Object.keys(robustness).sort(), [...GOOD_FEATURES].sort());
    assert.ok(robustness.x1.aucDropNulled > 0.1, `x1 drop ${robustness.x1.aucDropNulled}`);
    assert.ok(Math.abs(robustness.irrelevant.aucDropNulled) < 0.01);
    assert.ok(robustness.x1.aucDropNulled > robustness.irrelevant.aucDropNulled + 0.1);
    assert.ok(robustness.x1.aucDropNulled > robustness.x2.aucDropNulled);
    // Numeric features are also perturbed; strings are only nulled.
    assert.ok(
      robustness.x1.aucDropPerturbed! > 0 && robustness.x1.aucDropPerturbed! < robustness.x1.aucDropNulled,
    );
    assert.ok(Math.abs(robustness.irrelevant.aucDropPerturbed!) < 0.01);
    assert.equal(robustness.region.perturbedAuc, undefined);
    assert.ok(robustness.region.aucDropNulled > 0);
    // The challenger never read x1.
    assert.equal(evaluations.challenger.robustness.x1, undefined);
  });

  test('robustness perturbation is seeded', async () => {
    const again = await evaluateModels({
      test: holdout,
      models: [scored('champion', good, ['x1'])],
      robustness: { seed: 7 },
    });
    assert.equal(again.champion.robustness.x1.perturbedAuc, evaluations.champion.robustness.x1.perturbedAuc);
    const other = await evaluateModels({
      test: holdout,
      models: [scored('champion', good, ['x1'])],
      robustness: { seed: 8 },
    });
    assert.notEqual(
      other.champion.robustness.x1.perturbedAuc,
      evaluations.champion.robustness.x1.perturbedAuc,
    );
  });

  test('robustness on a seeded sample of the test rows agrees with the full measure', async () => {
    const half = Math.floor(holdout.rows / 2);
    const sampled = async (seed: number) =>
      (
        await evaluateModels({
          test: holdout,
          models: [scored('champion', good, GOOD_FEATURES)],
          robustness: { seed, sampleRows: half },
        })
      ).champion;
    const [first, again, full] = [await sampled(7), await sampled(7), evaluations.champion];
    assert.deepEqual(first.robustness, again.robustness, 'the same seed, the same sample');
    assert.deepEqual(first.overall, full.overall, 'overall metrics stay on every row');
    for (const feature of GOOD_FEATURES) {
      const drop = first.robustness[feature].aucDropNulled;
      assert.ok(Math.abs(drop - full.robustness[feature].aucDropNulled) < 0.03, `${feature}: ${drop}`);
    }
    assert.notEqual(first.robustness.x1.nulledAuc, full.robustness.x1.nulledAuc, 'measured on the sample');
  });
});

describe('fairness gaps on a hand-made example', () => {
  /**
   * Slice A: 40 rows, 20 positives of which 16 predicted positive (TPR 0.8), plus 4 false positives
   * → predicted positive rate 20/40 = 0.5. Slice B: 40 rows, 20 positives, 10 predicted (TPR 0.5),
   * 2 false positives → 12/40 = 0.3. Slice C: 10 rows (below the 30-row minimum), TPR 0.
   */
  function handMade(): { label: Uint8Array; scores: Float64Array; slice: string[] } {
    const label: number[] = [];
    const scores: number[] = [];
    const slice: string[] = [];
    const add = (name: string, positives: number, tp: number, negatives: number, fp: number) => {
      for (let i = 0; i < positives; i++) {
        label.push(1);
        scores.push(i < tp ? 0.9 : 0.1);
        slice.push(name);
      }
      for (let i = 0; i < negatives; i++) {
        label.push(0);
        scores.push(i < fp ? 0.8 : 0.2);
        slice.push(name);
      }
    };
    add('A', 20, 16, 20, 4);
    add('B', 20, 10, 20, 2);
    add('C', 5, 0, 5, 0);
    return { label: Uint8Array.from(label), scores: Float64Array.from(scores), slice };
  }

  test('gaps are the largest differences across slice values with enough rows', async () => {
    const { label, scores, slice } = handMade();
    const rows = label.length;
    const fixed = (p: Float64Array): ScoredModel => ({
      name: 'model',
      features: [],
      score: (_columns, n) => Promise.resolve(p.slice(0, n)),
    });
    const { model } = await evaluateModels({
      test: { columns: {}, label, rows, slices: { state: slice } },
      models: [fixed(scores)],
    });
    assert.equal(model.slices.state.A.tpr, 0.8);
    assert.equal(model.slices.state.B.tpr, 0.5);
    assert.equal(model.slices.state.C.tpr, 0);
    assert.equal(model.slices.state.A.predictedPositiveRate, 0.5);
    assert.equal(model.slices.state.B.predictedPositiveRate, 0.3);
    assert.equal(model.slices.state.C.rows, 10);
    const gap = model.fairness.state;
    assert.deepEqual(gap.comparedValues, ['A', 'B']);
    assert.ok(Math.abs(gap.tprGap - 0.3) < 1e-12);
    assert.ok(Math.abs(gap.positiveRateGap - 0.2) < 1e-12);
    assert.deepEqual(gap.tprExtremes, { max: 'A', min: 'B' });

    // With a lower minimum, slice C (TPR 0) joins and widens the TPR gap to 0.8.
    const loose = await evaluateModels({
      test: { columns: {}, label, rows, slices: { state: slice } },
      models: [fixed(scores)],
      minSliceRows: 10,
    });
    assert.ok(Math.abs(loose.model.fairness.state.tprGap - 0.8) < 1e-12);

    // A fair champion (same scores everywhere ⇒ identical TPR per slice) vs this challenger.
    const fairScores = Float64Array.from(label, (y) => (y ? 0.9 : 0.1));
    const { model: fair } = await evaluateModels({
      test: { columns: {}, label, rows, slices: { state: slice } },
      models: [fixed(fairScores)],
    });
    assert.equal(fair.fairness.state.tprGap, 0);
    const outcome = evaluateGates(
      parseGateConfig({ maxAucDrop: 1, maxFairnessGapIncrease: 0.1 }),
      model,
      fair,
    );
    const tprCheck = outcome.checks.find((c) => c.gate === 'fairness.tprGap[state]')!;
    assert.equal(tprCheck.passed, false);
    assert.equal(tprCheck.limit, 0.1);
    assert.equal(
      tprCheck.reason,
      "TPR gap across state 0.300 (A vs B) exceeds the champion's 0.000 + allowed increase 0.1",
    );
    assert.equal(outcome.passed, false);
    // Under a looser ε both fairness gates pass.
    assert.equal(
      evaluateGates(parseGateConfig({ maxAucDrop: 1, maxFairnessGapIncrease: 0.35 }), model, fair).passed,
      true,
    );
  });

  test('inputs are validated', async () => {
    const label = new Uint8Array([0, 1]);
    const model: ScoredModel = { name: 'm', features: [], score: () => Promise.resolve(new Float64Array(1)) };
    await assert.rejects(
      evaluateModels({ test: { columns: {}, label, rows: 2 }, models: [model] }),
      /returned 1 scores for 2 rows/,
    );
    await assert.rejects(
      evaluateModels({ test: { columns: {}, label, rows: 2, slices: { s: ['a'] } }, models: [model] }),
      /slice "s" has 1 keys for 2 test rows/,
    );
  });
});

describe('gate configuration', () => {
  test('defaults and validation errors', () => {
    assert.deepEqual(parseGateConfig({}), { maxAucDrop: 0.01, maxFairnessGapIncrease: 0.05 });
    assert.deepEqual(parseGateConfig(undefined), DEFAULT_GATE_CONFIG);
    assert.deepEqual(parseGateConfig({ maxAucDrop: 0.02, minAuc: 0.7 }), {
      maxAucDrop: 0.02,
      maxFairnessGapIncrease: 0.05,
      minAuc: 0.7,
    });
    assert.throws(() => parseGateConfig({ maxAucDrop: -0.1 }), /invalid promotion gate config: maxAucDrop:/);
    assert.throws(() => parseGateConfig({ minAuc: 'high' }), /minAuc:/);
    assert.throws(() => parseGateConfig({ maxAucDorp: 0.1 }), /maxAucDorp/);
    assert.throws(() => parseGateConfig({ maxEce: 2 }), /maxEce:/);
  });
});

describe('arrow training-set reader', () => {
  test('reads typed columns and the label without per-row objects', () => {
    const table = new Table({
      origin: vectorFromArray(['SFO', null, 'JFK', 'SFO']),
      distance: vectorFromArray([100.5, 200, null, 4], new Float64()),
      flights: vectorFromArray([1n, 2n, 3n, null], new Int64()),
      ts: vectorFromArray(
        [0, 1000, 2000, 3000].map((ms) => new Date(ms)),
        new TimestampMillisecond(),
      ),
      delayed: vectorFromArray([true, false, true, false], new Bool()),
    });
    const data = readLabeledArrow(tableToIPC(table, 'file'), 'delayed');
    assert.equal(data.rows, 4);
    assert.deepEqual([...data.label], [1, 0, 1, 0]);
    assert.deepEqual(Object.keys(data.columns), ['origin', 'distance', 'flights', 'ts']);
    assert.deepEqual(data.columns.origin, {
      type: 'string',
      values: ['SFO', null, 'JFK', 'SFO'],
      valid: Uint8Array.from([1, 0, 1, 1]),
    });
    assert.equal(data.columns.distance.type, 'float64');
    assert.deepEqual([...data.columns.distance.valid], [1, 1, 0, 1]);
    assert.deepEqual([...(data.columns.distance.values as Float64Array)].slice(0, 2), [100.5, 200]);
    assert.equal(data.columns.flights.type, 'int64');
    assert.deepEqual([...data.columns.flights.valid], [1, 1, 1, 0]);
    assert.deepEqual([...(data.columns.flights.values as Float64Array)].slice(0, 3), [1, 2, 3]);
    assert.equal(data.columns.ts.type, 'timestamp');
    assert.deepEqual([...(data.columns.ts.values as Float64Array)], [0, 1000, 2000, 3000]);
    assert.throws(
      () => readLabeledArrow(tableToIPC(table), 'label'),
      /invalid label column "label": not found/,
    );
    assert.throws(
      () => readLabeledArrow(tableToIPC(table), 'origin'),
      /invalid label column "origin": row 0 holds "SFO", expected a bool, a number, or 0\/1\/true\/false/,
    );
    const text = new Table({ y: vectorFromArray(['1', 'false', ' TRUE ', '0'], new Utf8()) });
    assert.deepEqual([...readLabeledArrow(tableToIPC(text), 'y').label], [1, 0, 1, 0], 'CSV labels');
  });
});
