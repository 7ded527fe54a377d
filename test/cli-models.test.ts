import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  cliActor,
  formatModelDetails,
  formatModelList,
  parseVersionArgument,
  promoteModel,
  rollbackModel,
} from '../cli/commands/models.js';
import { describeModel, listModels } from '../models/catalog.js';
import {
  buildTrainingPipelineInput,
  formatPipelineResult,
  TORCH_TRAINER_SCRIPT,
  type SpineTrainOptions,
  type TrainOptions,
} from '../cli/commands/train.js';
import type { Database } from '../db/client.js';
import { aliasHistory, setAlias } from '../models/registry.js';
import type { TrainingPipelineResult } from '../workflows/index.js';
import {
  startRegistryFixture,
  type RegistryFixture,
  FIXTURE_TRAINING_SET,
} from './support/registry-fixture.js';

const trainOptions = (overrides: Partial<TrainOptions> = {}): SpineTrainOptions => ({
  spine: 'flights.arrow',
  entity: ['origin=airport'],
  ts: 'date',
  label: 'delayed',
  features: 'airport_departures:departures_1h',
  split: 'time:2001-05-01,2001-06-01',
  out: 'flights-ts.arrow',
  ...overrides,
});

describe('kaizen train options', () => {
  test('builtin: params are { kind, ...--params }, gates validated and filled', () => {
    const input = buildTrainingPipelineInput(
      'delays',
      trainOptions({
        kind: 'logistic',
        params: '{"maxEpochs":3}',
        gates: '{"minAuc":0.6}',
        slices: 'origin, carrier',
        approvalTimeout: '1 day',
      }),
    );
    assert.deepEqual(input.trainer, { kind: 'builtin', params: { kind: 'logistic', maxEpochs: 3 } });
    assert.deepEqual(input.gates, { maxAucDrop: 0.01, maxFairnessGapIncrease: 0.05, minAuc: 0.6 });
    assert.deepEqual(input.slices, ['origin', 'carrier']);
    assert.equal(input.approvalTimeout, '1 day');
    assert.equal(input.label, 'delayed');
    assert.deepEqual(input.trainingSet.split, {
      trainEndMs: Date.UTC(2001, 4, 1),
      validEndMs: Date.UTC(2001, 5, 1),
    });
    assert.equal(input.trainingSet.spine.labelColumn, 'delayed');
    assert.deepEqual(input.trainingSet.spine.entities, [{ entity: 'airport', columns: ['origin'] }]);
  });

  test('torch: the external trainer with the absolute script path, params and gpu', () => {
    const input = buildTrainingPipelineInput(
      'delays',
      trainOptions({ trainer: 'torch', params: '{"epochs":5}', gpu: true }),
    );
    assert.deepEqual(input.trainer, {
      kind: 'external',
      command: 'python3',
      args: [TORCH_TRAINER_SCRIPT],
      params: { epochs: 5 },
      gpu: true,
    });
    assert.ok(path.isAbsolute(TORCH_TRAINER_SCRIPT) && existsSync(TORCH_TRAINER_SCRIPT));
    assert.equal(input.gates, undefined);
  });

  test('clear errors: missing --split, bad --gates, bad --params, bad trainer options', () => {
    assert.throws(
      () => buildTrainingPipelineInput('delays', trainOptions({ split: undefined })),
      /--split time:<train_end>,<valid_end> is required: .*test split/,
    );
    assert.throws(
      () => buildTrainingPipelineInput('delays', trainOptions({ gates: '{maxAucDrop: 0.1' })),
      /invalid --gates '\{maxAucDrop: 0.1': not JSON/,
    );
    assert.throws(
      () => buildTrainingPipelineInput('delays', trainOptions({ gates: '{"maxAucDrop": 2}' })),
      /invalid --gates: invalid promotion gate config: maxAucDrop/,
    );
    assert.throws(
      () => buildTrainingPipelineInput('delays', trainOptions({ gates: '{"minAcu": 0.6}' })),
      /invalid --gates: invalid promotion gate config/,
    );
    assert.throws(
      () => buildTrainingPipelineInput('delays', trainOptions({ params: '[1]' })),
      /invalid --params '\[1\]': expected a JSON object/,
    );
    assert.throws(
      () => buildTrainingPipelineInput('delays', trainOptions({ trainer: 'sklearn' })),
      /invalid --trainer "sklearn"/,
    );
    assert.throws(
      () => buildTrainingPipelineInput('delays', trainOptions({ kind: 'forest' })),
      /invalid --kind "forest"/,
    );
    assert.throws(
      () => buildTrainingPipelineInput('delays', trainOptions({ gpu: true })),
      /--gpu needs --trainer torch/,
    );
    assert.throws(
      () => buildTrainingPipelineInput('delays', trainOptions({ approvalTimeout: 'soon' })),
      /invalid --approval-timeout "soon"/,
    );
  });

  test('the result: status, reasons, challenger vs champion metrics, each gate with ✔/✘', () => {
    const overall = (auc: number, logLoss: number, ece: number) => ({
      rows: 100,
      auc,
      logLoss,
      accuracy: 0.8,
      ece,
      positiveRate: 0.2,
      predictedPositiveRate: 0.2,
    });
    const evaluation = (auc: number, logLoss: number, ece: number) => ({
      overall: overall(auc, logLoss, ece),
      slices: {},
      fairness: {},
      robustness: {},
    });
    const result: TrainingPipelineResult = {
      model: 'delays',
      version: 3,
      trainingSetId: 'ts_abc',
      status: 'rejected',
      reasons: ["AUC 0.650 is 0.050 below the champion's 0.700; allowed drop 0.01"],
      evaluation: {
        championVersion: 2,
        challenger: evaluation(0.65, 0.5, 0.03),
        champion: evaluation(0.7, 0.45, 0.02),
        gates: {
          passed: false,
          checks: [
            { gate: 'minAuc', passed: true, challenger: 0.65, limit: 0.6, reason: 'AUC ok' },
            {
              gate: 'aucDrop',
              passed: false,
              challenger: 0.65,
              champion: 0.7,
              limit: 0.69,
              reason: "AUC 0.650 is 0.050 below the champion's 0.700; allowed drop 0.01",
            },
          ],
        },
      },
    };
    const text = formatPipelineResult(result);
    assert.match(text, /^delays v3: rejected \(training set ts_abc\)/);
    assert.match(text, /reason: AUC 0\.650 is 0\.050 below/);
    assert.match(text, /challenger v3 +champion v2/);
    assert.match(text, /AUC +0\.6500 +0\.7000/);
    assert.match(text, /log-loss +0\.5000 +0\.4500/);
    assert.match(text, /ECE +0\.0300 +0\.0200/);
    assert.match(text, /✔ minAuc: AUC ok/);
    assert.match(text, /✘ aucDrop: AUC 0\.650/);

    const first = formatPipelineResult({
      ...result,
      status: 'promoted',
      reasons: [],
      evaluation: { ...result.evaluation, championVersion: null, champion: undefined },
    });
    assert.match(first, /delays v3: promoted/);
    assert.match(first, /champion \(none\)/);
    assert.match(first, /AUC +0\.6500 +—/);
  });
});

describe('kaizen models (Postgres)', () => {
  let fixture: RegistryFixture;
  let database: Database;
  const register = (name: string, bytes: string, auc?: number) =>
    fixture.register(name, bytes, auc === undefined ? {} : { validation: { auc } });

  before(async () => {
    fixture = await startRegistryFixture();
    database = fixture.database;
  });

  after(() => fixture?.close());

  test('list: no models yet', async () => {
    assert.match(formatModelList(await listModels(database.db)), /no models registered/);
  });

  test('promote, rollback, list and show', async () => {
    await register('delays', 'one', 0.71);
    await register('delays', 'two', 0.735);
    await register('delays', 'three');
    await register('aardvark', 'a');
    const actor = cliActor();
    assert.equal(actor, `cli:${os.userInfo().username}`);

    assert.equal(
      await promoteModel(database.db, 'delays', 1, { actor, reason: 'first' }),
      `delays: champion — → v1 (by ${actor})`,
    );
    assert.equal(
      await promoteModel(database.db, 'delays', 2, { actor }),
      `delays: champion v1 → v2 (by ${actor})`,
    );
    await setAlias(database.db, {
      model: 'delays',
      alias: 'challenger',
      version: 3,
      actor: 'train:delays:abc',
      reason: 'registered',
    });
    await assert.rejects(
      promoteModel(database.db, 'delays', 9, { actor }),
      /unknown model version delays@v9/,
    );
    await assert.rejects(promoteModel(database.db, 'nope', 1, { actor }), /unknown model "nope"/);

    assert.equal(
      await rollbackModel(database.db, 'delays', { actor, reason: 'v2 misbehaves' }),
      `delays: champion v2 → v1 (rolled back by ${actor})`,
    );
    await assert.rejects(rollbackModel(database.db, 'aardvark', { actor }), /no previous champion/);
    const [last] = await aliasHistory(database.db, 'delays').limit(1);
    assert.deepEqual(
      [last.actor, last.reason, last.fromVersion, last.toVersion],
      [actor, 'v2 misbehaves', 2, 1],
    );

    const list = await listModels(database.db);
    assert.deepEqual(list, [
      { name: 'aardvark', latestVersion: 1, champion: null, challenger: null },
      { name: 'delays', latestVersion: 3, champion: 1, challenger: 3 },
    ]);
    const listed = formatModelList(list).split('\n');
    assert.match(listed[0], /^model +latest +champion +challenger$/);
    assert.match(listed[1], /^aardvark +v1 +— +—$/);
    assert.match(listed[2], /^delays +v3 +v1 +v3$/);

    const details = await describeModel(database.db, 'delays');
    assert.deepEqual(
      details.versions.map((r) => [r.version, r.trainer, r.trainingSetId, r.validationAuc]),
      [
        [1, 'builtin:mlp', FIXTURE_TRAINING_SET, 0.71],
        [2, 'builtin:mlp', FIXTURE_TRAINING_SET, 0.735],
        [3, 'builtin:mlp', FIXTURE_TRAINING_SET, undefined],
      ],
    );
    assert.deepEqual(
      details.aliases.map((a) => [a.alias, a.version]),
      [
        ['challenger', 3],
        ['champion', 1],
      ],
    );
    assert.deepEqual(
      details.audit.map((e) => [e.alias, e.fromVersion, e.toVersion, e.reason]),
      [
        ['champion', 2, 1, 'v2 misbehaves'],
        ['challenger', null, 3, 'registered'],
        ['champion', 1, 2, 'promoted by hand'],
        ['champion', null, 1, 'first'],
      ],
    );
    const shown = formatModelDetails(details);
    assert.match(shown, /^model delays \(latest v3\)/);
    assert.match(shown, /\n {2}v1 +builtin:mlp +ts_fixture +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +0\.7100\n/);
    assert.match(shown, /\n {2}v3 +builtin:mlp +ts_fixture +\S+Z +—\n/);
    assert.match(shown, /\n {2}champion +v1 \(since /);
    assert.match(shown, /\n {2}challenger +v3 \(since /);
    const auditLines = shown.split('audit (last 10, newest first):\n')[1].split('\n');
    assert.equal(auditLines.length, 4);
    assert.match(auditLines[0], new RegExp(`^ {2}\\S+Z {2}champion +v2 → v1 {2}by ${actor}: v2 misbehaves$`));
    assert.match(auditLines[3], /champion +— → v1 {2}by .*: first$/);

    await assert.rejects(describeModel(database.db, 'nope'), /unknown model "nope"/);
  });

  test('show keeps only the last 10 audit entries', async () => {
    await register('busy', 'b1');
    await register('busy', 'b2');
    for (let i = 0; i < 12; i++) await promoteModel(database.db, 'busy', (i % 2) + 1, { actor: 'x' });
    const details = await describeModel(database.db, 'busy');
    assert.equal(details.audit.length, 10);
    assert.deepEqual([details.audit[0].fromVersion, details.audit[0].toVersion], [1, 2]);
  });

  test('version arguments: 3 or v3', () => {
    assert.equal(parseVersionArgument('3'), 3);
    assert.equal(parseVersionArgument('v12'), 12);
    assert.throws(() => parseVersionArgument('latest'), /invalid version "latest"/);
    assert.throws(() => parseVersionArgument('0'), /invalid version "0"/);
  });
});
