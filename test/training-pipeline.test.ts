import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Bool, Table, tableToIPC, TimestampMillisecond, Utf8, vectorFromArray } from 'apache-arrow';
import { defineEntity } from '../feature-store/definitions/entity.js';
import { defineFeatureView } from '../feature-store/definitions/feature-view.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import type { TrainingSetRequest } from '../feature-store/point-in-time/training-set.js';
import { aliasHistory, getModelVersion, loadModelArtifact } from '../models/registry.js';
import { pinnedFeatureColumns } from '../feature-store/index.js';
import type { ModelProfile } from '../monitoring/profile.js';
import { runTrainingPipeline, startTrainingPipeline } from '../runtime/training-pipeline-runner.js';
import { approveSignal, type TrainingPipelineInput } from '../workflows/index.js';
import { FLIGHTS_SAMPLE_SOURCE, writeFlightsSample } from './support/flights-sample.js';
import { startIntegration, type Integration } from './support/integration.js';

const airport = defineEntity({ name: 'airport', joinKey: 'airport' });
const departures = defineFeatureView({
  name: 'tp_departures',
  entities: [airport],
  entityColumns: { airport: 'origin' },
  source: FLIGHTS_SAMPLE_SOURCE,
  ttl: '2h',
  transform: {
    kind: 'window',
    hop: '1h',
    windows: ['1h', '24h'],
    aggregations: [
      { name: 'departures', fn: 'count' },
      { name: 'mean_delay', fn: 'mean', column: 'delay' },
    ],
  },
});
const info = defineFeatureView({
  name: 'tp_info',
  entities: [airport],
  entityColumns: { airport: 'iata' },
  source: { kind: 'csv', path: 'airports.csv' },
  features: { latitude: 'float64' },
});

describe('training pipeline (Postgres + Temporal, flights sample)', () => {
  let env: Integration;
  let trainingSet: TrainingSetRequest;
  const pipeline = (extra: Partial<TrainingPipelineInput>): TrainingPipelineInput => ({
    model: 'delays',
    trainingSet,
    label: 'delayed',
    trainer: { kind: 'builtin', params: { kind: 'logistic', maxEpochs: 10, batchSize: 256 } },
    gates: { maxAucDrop: 0.01 },
    slices: ['origin'],
    ...extra,
  });
  const deps = () => ({ temporal: env.worker.client, taskQueue: env.worker.taskQueue });

  before(async () => {
    env = await startIntegration({
      files: { 'airports.csv': 'iata,latitude\nSFO,37.6\nOAK,37.7\nLAX,33.9\n' },
    });
    const sample = writeFlightsSample(env.dataRoot, {
      origins: ['SFO', 'OAK', 'LAX'],
      startMs: Date.UTC(2001, 0, 1),
      endMs: Date.UTC(2001, 1, 1),
    });
    const spine = new Table({
      date: vectorFromArray(sample.date, new TimestampMillisecond()),
      origin: vectorFromArray(sample.origin, new Utf8()),
      delayed: vectorFromArray(
        sample.delay.map((d) => d > 15),
        new Bool(),
      ),
    });
    writeFileSync(path.join(env.dataRoot, 'spine.arrow'), tableToIPC(spine, 'file'));
    await applyDefinitions(env.database.db, { entities: [airport], views: [departures, info] });
    for (const view of ['tp_departures', 'tp_info']) await env.materialize({ view });
    trainingSet = {
      spine: {
        path: path.join(env.dataRoot, 'spine.arrow'),
        entities: [{ entity: 'airport', columns: ['origin'] }],
        tsColumn: 'date',
        labelColumn: 'delayed',
      },
      features: [
        { view: 'tp_departures', feature: 'departures_1h' },
        { view: 'tp_departures', feature: 'departures_24h' },
        { view: 'tp_departures', feature: 'mean_delay_1h' },
        { view: 'tp_departures', feature: 'mean_delay_24h' },
        { view: 'tp_info', feature: 'latitude' },
      ],
      split: { trainEndMs: Date.UTC(2001, 0, 18), validEndMs: Date.UTC(2001, 0, 25) },
      out: path.join(env.dataRoot, 'delays.arrow'),
    };
  });

  after(() => env?.close());

  test('a first model is promoted; a worse challenger is rejected by the AUC gate, with the reason recorded', async () => {
    const first = await runTrainingPipeline(deps(), pipeline({}));
    assert.equal(first.result.status, 'promoted', first.result.reasons.join('; '));
    const champion = await getModelVersion(env.database.db, 'delays', 'champion');
    assert.equal(champion.version, first.result.version);
    assert.deepEqual(champion.features, [
      'tp_departures@v1:departures_1h',
      'tp_departures@v1:departures_24h',
      'tp_departures@v1:mean_delay_1h',
      'tp_departures@v1:mean_delay_24h',
      'tp_info@v1:latitude',
    ]);
    assert.equal(champion.trainingSetId, first.result.trainingSetId);
    await loadModelArtifact(champion); // sha256 verified
    // The monitor's reference: every model input of the training split, and the validation scores.
    const profile = champion.profile as ModelProfile;
    assert.deepEqual(
      Object.keys(profile.features).sort(), // jsonb keeps object keys in its own order
      pinnedFeatureColumns(champion.features as string[]).sort(),
    );
    const latitude = profile.features.tp_info__latitude;
    assert.equal(latitude.kind, 'numeric');
    assert.ok(
      latitude.kind === 'numeric' && latitude.min >= 33.9 && latitude.max <= 37.7,
      JSON.stringify(latitude),
    );
    assert.ok(profile.score.rows > 0 && profile.score.mean > 0 && profile.score.mean < 1);
    assert.ok(
      first.result.evaluation.challenger.overall.auc > 0.55,
      `AUC ${first.result.evaluation.challenger.overall.auc}`,
    );
    assert.ok(Object.keys(first.result.evaluation.challenger.fairness).includes('origin'));

    // Latitude alone: three airports' worth of signal, far less than the delay windows carry.
    const worse = await runTrainingPipeline(
      deps(),
      pipeline({
        trainer: {
          kind: 'builtin',
          params: { kind: 'logistic', maxEpochs: 10, batchSize: 256, features: ['tp_info__latitude'] },
        },
      }),
    );
    const { challenger, champion: incumbent } = worse.result.evaluation;
    assert.ok(challenger.overall.auc < incumbent!.overall.auc - 0.01, 'premise: the challenger is worse');
    assert.equal(worse.result.status, 'rejected');
    assert.match(worse.result.reasons.join('; '), /AUC .* below the champion's .*; allowed drop 0\.01/);
    assert.equal(
      (await getModelVersion(env.database.db, 'delays', 'champion')).version,
      first.result.version,
    );
    const [latest] = await aliasHistory(env.database.db, 'delays');
    assert.equal(latest.alias, 'challenger');
    assert.equal(latest.toVersion, worse.result.version);
    assert.match(latest.reason, /^rejected: AUC/);
    assert.equal(latest.actor, worse.workflowId);
  });

  test('human approval: a declined challenger that passed the gates is not promoted', async () => {
    const handle = await startTrainingPipeline(
      deps(),
      pipeline({
        trainer: { kind: 'builtin', params: { kind: 'logistic', maxEpochs: 10, batchSize: 256, seed: 7 } },
        gates: { maxAucDrop: 1 },
        approvalTimeout: '10 minutes',
      }),
    );
    for (let i = 0; i < 200 && (await handle.query<string>('stage')) !== 'awaiting approval'; i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    await handle.signal(approveSignal, { approved: false, by: 'alice', reason: 'wait for the holiday data' });
    const result = await handle.result();
    assert.equal(result.status, 'rejected');
    assert.deepEqual(result.reasons, ['declined by alice: wait for the holiday data']);
  });
});
