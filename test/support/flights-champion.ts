/**
 * A flights model serving as champion over real stores (tests of training/serving/batch agreement):
 * the sample's views materialized up to AS_OF, a spine of its last flights before AS_OF looked up as
 * of AS_OF, a training set of it, a small MLP trained on that, registered as champion, and a model
 * server with online features read as of AS_OF.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { airport, departureTime, flightsDefinitions, route } from '../../examples/flights/features.js';
import { applyDefinitions } from '../../feature-store/registry/apply.js';
import { createFeatureStore, type FeatureRef } from '../../feature-store/index.js';
import type { TrainingSetManifest } from '../../feature-store/point-in-time/training-set.js';
import { readLabeledArrow } from '../../models/arrow-table.js';
import { registerModelVersion, setAlias } from '../../models/registry.js';
import { runTrainingSetBuild } from '../../runtime/training-set-runner.js';
import { createApiKeyVerifier } from '../../serving/api-keys.js';
import type { ServingDeps } from '../../serving/context.js';
import { createServingMetrics } from '../../serving/metrics.js';
import { createModelServer } from '../../serving/model-server.js';
import { createOnlineFeatures } from '../../serving/online-features.js';
import { createPredictionLog } from '../../serving/prediction-log.js';
import { exportOnnx } from '../../trainers/builtin/onnx-export.js';
import { trainBuiltin } from '../../trainers/builtin/train.js';
import {
  SAMPLE_FLIGHT_VIEWS,
  writeFlightsSample,
  writeSampleSpine,
  type FlightsSample,
} from './flights-sample.js';
import { startIntegration, type Integration } from './integration.js';

export const JAN_1 = Date.UTC(2001, 0, 1);
/** A boundary of the weekly chunk grid: the stores then hold exactly the state as of this instant. */
export const AS_OF = Date.UTC(2001, 0, 18);

/** The spine: the sample's last `flights` flights before AS_OF, looked up as of AS_OF, departing when they did. */
function writeSpine(sample: FlightsSample, file: string, flights: number): number[] {
  const rows: number[] = [];
  for (let i = sample.length - 1; i >= 0 && rows.length < flights; i--)
    if (sample.date[i] < AS_OF) rows.push(i);
  rows.reverse();
  writeSampleSpine(sample, file, rows, AS_OF);
  return rows;
}

export interface FlightsChampion {
  env: Integration;
  sample: FlightsSample;
  /** Sample rows of the spine, in spine order. */
  spineRows: number[];
  /** `asof` (AS_OF), `departure`, `origin`, `destination`, `delayed`. */
  spinePath: string;
  /** The champion's training set (its spine is spinePath). */
  manifest: TrainingSetManifest;
  artifactPath: string;
  /** Serving over the same stores, online features read as of AS_OF. */
  deps: ServingDeps;
  close(): Promise<void>;
}

export async function startFlightsChampion(opts: {
  model: string;
  features: FeatureRef[];
  flights: number;
}): Promise<FlightsChampion> {
  const env = await startIntegration();
  try {
    return await setUp(env, opts);
  } catch (error) {
    await env.close();
    throw error;
  }
}

async function setUp(
  env: Integration,
  opts: { model: string; features: FeatureRef[]; flights: number },
): Promise<FlightsChampion> {
  const sample = writeFlightsSample(env.dataRoot, {
    origins: ['SFO', 'OAK', 'SJC', 'LAX'],
    startMs: JAN_1,
    endMs: AS_OF + 86_400_000,
  });
  await applyDefinitions(env.database.db, {
    entities: [airport, route],
    views: SAMPLE_FLIGHT_VIEWS,
    onDemandViews: [departureTime],
    module: flightsDefinitions().module,
  });
  // Windowed views up to AS_OF; the static airport view (stamped 1970) in full.
  for (const view of SAMPLE_FLIGHT_VIEWS)
    await env.materialize(
      view.transform ? { view: view.name, startMs: JAN_1, endMs: AS_OF } : { view: view.name },
    );
  const spinePath = path.join(env.dataRoot, 'spine.arrow');
  const spineRows = writeSpine(sample, spinePath, opts.flights);
  const { manifest } = await runTrainingSetBuild(
    { temporal: env.worker.client, taskQueue: env.worker.taskQueue },
    {
      spine: {
        path: spinePath,
        entities: [
          { entity: 'airport', columns: ['origin'] },
          { entity: 'route', columns: ['origin', 'destination'] },
        ],
        tsColumn: 'asof',
        labelColumn: 'delayed',
        request: { departure: 'departure' },
      },
      features: opts.features,
      out: path.join(env.dataRoot, `${opts.model}-ts.arrow`),
    },
  );

  // A small MLP on these rows: its quality does not matter, only that the paths agree.
  const data = readLabeledArrow(readFileSync(manifest.path), 'delayed');
  const { model } = await trainBuiltin(data, data, {
    kind: 'mlp',
    hidden: [8],
    maxEpochs: 3,
    features: manifest.features.map((f) => f.column),
    threads: 1,
  });
  const artifactPath = path.join(env.dataRoot, `${opts.model}.onnx`);
  writeFileSync(artifactPath, exportOnnx(model));
  const version = await registerModelVersion(env.database.db, {
    name: opts.model,
    artifactPath,
    trainer: 'builtin:mlp',
    params: { kind: 'mlp' },
    trainingSetId: manifest.id,
    features: manifest.features.map((f) => `${f.view}@v${f.version}:${f.feature}`),
    metrics: {},
  });
  await setAlias(env.database.db, {
    model: opts.model,
    alias: 'champion',
    version: version.version,
    actor: 'test',
    reason: 'flights champion fixture',
  });

  const { db, pool } = env.database;
  const metrics = createServingMetrics();
  const log = () => {};
  const deps: ServingDeps = {
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
    models: createModelServer({ db, pool, metrics, preload: [opts.model], log }),
    predictionLog: createPredictionLog({ db, metrics, log }),
    limits: { maxRows: 1000, maxBodyBytes: 1 << 20 },
  };
  return {
    env,
    sample,
    spineRows,
    spinePath,
    manifest,
    artifactPath,
    deps,
    async close() {
      await deps.predictionLog.close();
      await deps.models.close();
      await deps.features.close();
      await env.close();
    },
  };
}
