/**
 * No training/serving skew: `predict` for 1,000 flights (online features through the cache, on-demand
 * features from the request, the champion's ONNX in the model server) equals scoring the same rows
 * of the offline, point-in-time training set with the same ONNX model.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Bool,
  makeData,
  makeVector,
  Table,
  tableToIPC,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import { airport, departureTime, flightsDefinitions, route } from '../examples/flights/features.js';
import { FLIGHT_FEATURES, flightFeatureRefs } from '../examples/flights/training-set.js';
import { featureColumnName } from '../feature-store/refs/feature-ref.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import { createFeatureStore } from '../feature-store/index.js';
import type { TrainingSetManifest } from '../feature-store/point-in-time/training-set.js';
import { readLabeledArrow } from '../models/arrow-table.js';
import { registerModelVersion, setAlias } from '../models/registry.js';
import { runTrainingSetBuild } from '../runtime/training-set-runner.js';
import { createApiKeyVerifier } from '../serving/api-keys.js';
import type { ServingDeps } from '../serving/context.js';
import { createServingMetrics } from '../serving/metrics.js';
import { createModelServer } from '../serving/model-server.js';
import { createOnlineFeatures } from '../serving/online-features.js';
import { createPredictionLog } from '../serving/prediction-log.js';
import { createCaller } from '../serving/router.js';
import { exportOnnx } from '../trainers/builtin/onnx-export.js';
import { createOnnxScorer } from '../models/onnx-scorer.js';
import { trainBuiltin } from '../trainers/builtin/train.js';
import { SAMPLE_FLIGHT_VIEWS, writeFlightsSample, type FlightsSample } from './support/flights-sample.js';
import { startIntegration, type Integration } from './support/integration.js';

const JAN_1 = Date.UTC(2001, 0, 1);
// A boundary of the weekly chunk grid: the stores then hold exactly the state as of this instant.
const AS_OF = Date.UTC(2001, 0, 18);
const FLIGHTS = 1000;
const MODEL = 'no_skew';

const VIEWS = SAMPLE_FLIGHT_VIEWS;

/** The spine: the sample's last FLIGHTS flights before AS_OF, looked up as of AS_OF, departing when they did. */
function writeSpine(sample: FlightsSample, file: string): number[] {
  const rows: number[] = [];
  for (let i = sample.length - 1; i >= 0 && rows.length < FLIGHTS; i--)
    if (sample.date[i] < AS_OF) rows.push(i);
  rows.reverse();
  const delayed = new Uint8Array((rows.length + 7) >> 3);
  rows.forEach((r, j) => {
    if (sample.delay[r] > 15) delayed[j >> 3] |= 1 << (j & 7);
  });
  const table = new Table({
    asof: vectorFromArray(
      rows.map(() => AS_OF),
      new TimestampMillisecond(),
    ),
    departure: vectorFromArray(
      rows.map((r) => sample.date[r]),
      new TimestampMillisecond(),
    ),
    origin: vectorFromArray(
      rows.map((r) => sample.origin[r]),
      new Utf8(),
    ),
    destination: vectorFromArray(
      rows.map((r) => sample.destination[r]),
      new Utf8(),
    ),
    delayed: makeVector(makeData({ type: new Bool(), length: rows.length, data: delayed })),
  });
  writeFileSync(file, tableToIPC(table, 'file'));
  return rows;
}

describe('no skew: served predictions equal offline scoring of the training set (Postgres + Temporal)', () => {
  let env: Integration;
  let sample: FlightsSample;
  let spineRows: number[];
  let manifest: TrainingSetManifest;
  let deps: ServingDeps;

  before(async () => {
    env = await startIntegration();
    sample = writeFlightsSample(env.dataRoot, {
      origins: ['SFO', 'OAK', 'SJC', 'LAX'],
      startMs: JAN_1,
      endMs: AS_OF + 86_400_000,
    });
    await applyDefinitions(env.database.db, {
      entities: [airport, route],
      views: VIEWS,
      onDemandViews: [departureTime],
      module: flightsDefinitions().module,
    });
    // Windowed views up to AS_OF; the static airport view (stamped 1970) in full.
    for (const view of VIEWS)
      await env.materialize(
        view.transform ? { view: view.name, startMs: JAN_1, endMs: AS_OF } : { view: view.name },
      );
    spineRows = writeSpine(sample, path.join(env.dataRoot, 'spine.arrow'));
    const built = await runTrainingSetBuild(
      { temporal: env.worker.client, taskQueue: env.worker.taskQueue },
      {
        spine: {
          path: path.join(env.dataRoot, 'spine.arrow'),
          entities: [
            { entity: 'airport', columns: ['origin'] },
            { entity: 'route', columns: ['origin', 'destination'] },
          ],
          tsColumn: 'asof',
          labelColumn: 'delayed',
          request: { departure: 'departure' },
        },
        features: flightFeatureRefs(),
        out: path.join(env.dataRoot, 'no-skew.arrow'),
      },
    );
    manifest = built.manifest;

    // A small MLP on these rows: its quality does not matter, only that both paths agree.
    const data = readLabeledArrow(readFileSync(manifest.path), 'delayed');
    const features = manifest.features.map((f) => f.column);
    const { model } = await trainBuiltin(data, data, {
      kind: 'mlp',
      hidden: [8],
      maxEpochs: 3,
      features,
      threads: 1,
    });
    const artifactPath = path.join(env.dataRoot, 'no-skew.onnx');
    writeFileSync(artifactPath, exportOnnx(model));
    const version = await registerModelVersion(env.database.db, {
      name: MODEL,
      artifactPath,
      trainer: 'builtin:mlp',
      params: { kind: 'mlp' },
      trainingSetId: manifest.id,
      features: manifest.features.map((f) => `${f.view}@v${f.version}:${f.feature}`),
      metrics: {},
    });
    await setAlias(env.database.db, {
      model: MODEL,
      alias: 'champion',
      version: version.version,
      actor: 'test',
      reason: 'no-skew test',
    });

    const { db, pool } = env.database;
    const metrics = createServingMetrics();
    const log = () => {};
    deps = {
      db,
      pool,
      metrics,
      keys: createApiKeyVerifier(db),
      features: createOnlineFeatures({
        store: createFeatureStore({ db, dataRoot: env.dataRoot, latestTtlMs: 1000 }),
        metrics,
        now: () => AS_OF,
        log,
      }),
      models: createModelServer({ db, pool, metrics, preload: [MODEL], log }),
      predictionLog: createPredictionLog({ db, metrics, log }),
      limits: { maxRows: 1000, maxBodyBytes: 1 << 20 },
    };
  });

  after(async () => {
    await deps?.predictionLog.close();
    await deps?.models.close();
    await deps?.features.close();
    await env?.close();
  });

  test(`predict for ${FLIGHTS} flights equals the offline scores of the training set rows (1e-6)`, async () => {
    assert.equal(manifest.rowCount, FLIGHTS);
    const caller = createCaller({ deps, key: { id: 't', name: 't', scopes: ['predict'] } });
    const entities = spineRows.map((r, j) => ({
      airport: sample.origin[r],
      // The departure as ISO text or epoch ms.
      route: [sample.origin[r], sample.destination[r]],
      departure: j % 3 ? new Date(sample.date[r]).toISOString() : sample.date[r],
    }));
    const served: number[] = [];
    for (let from = 0; from < entities.length; from += 250) {
      const answer = await caller.predict({ model: MODEL, entities: entities.slice(from, from + 250) });
      assert.equal(answer.version, 1);
      served.push(...answer.predictions.map((p) => p.score));
    }

    const offline = readLabeledArrow(readFileSync(manifest.path), 'delayed');
    const scorer = await createOnnxScorer(readFileSync(path.join(env.dataRoot, 'no-skew.onnx')));
    const expected = await scorer.score(offline.columns, offline.rows);
    await scorer.release();
    let maxDiff = 0;
    for (let i = 0; i < FLIGHTS; i++) maxDiff = Math.max(maxDiff, Math.abs(served[i] - expected[i]));
    assert.ok(maxDiff <= 1e-6, `max |served - offline| = ${maxDiff}`);

    // The comparison is not vacuous: features are mostly present, and they vary.
    const nonNull = (column: string) => offline.columns[column].valid.reduce((a, b) => a + b, 0);
    for (const view of ['airport_departures', 'route_delays', 'airport_info', 'departure_time']) {
      const column = featureColumnName(view, FLIGHT_FEATURES[view as keyof typeof FLIGHT_FEATURES][0]);
      assert.ok(nonNull(column) > FLIGHTS / 2, `${column}: ${nonNull(column)} values`);
    }
    assert.ok(new Set(expected).size > 50, 'scores vary across flights');
  });
});
