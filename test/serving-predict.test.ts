import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TRPCError } from '@trpc/server';
import { eq, inArray, sql } from 'drizzle-orm';
import { connectDatabase, runMigrations, type Database } from '../db/client.js';
import { predictionFeedback, predictions, trainingSets } from '../db/schema.js';
import type { Column } from '../feature-store/definitions/types.js';
import { registerModelVersion, rollbackChampion, setAlias, setShadow } from '../models/registry.js';
import type { OnlineFeatures, Scope, ServingDeps } from '../serving/context.js';
import { createServingMetrics } from '../serving/metrics.js';
import type { FeatureRow } from '../serving/context.js';
import { createModelServer } from '../serving/model-server.js';
import { createPredictionLog, type PredictionLogOptions } from '../serving/prediction-log.js';
import { createCaller } from '../serving/router.js';
import {
  inputWidth,
  type BuiltinModel,
  type DenseLayer,
  type InputColumn,
} from '../trainers/builtin/model.js';
import { exportOnnx } from '../trainers/builtin/onnx-export.js';
import { createOnnxScorer } from '../models/onnx-scorer.js';
import { gaussian, mulberry32 } from '../models/prng.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

/** Pinned like a flights model: two numeric features and a categorical one, from three views. */
const PINNED = [
  'airport_departures@v1:departures_1h',
  'route_delays@v2:mean_delay_24h',
  'airport_info@v1:state',
];
const [DEPARTURES, DELAY, STATE] = [
  'airport_departures__departures_1h',
  'route_delays__mean_delay_24h',
  'airport_info__state',
];
const STATES = ['CA', 'NY', 'TX'];
const KEY = { id: 'key-1', name: 'test', scopes: ['predict' as const] };

interface RequestData {
  columns: Record<string, Column>;
  rows: number;
}

/** Request rows: departures, delays (some missing) and states (some missing). */
function requestData(rows: number, seed: number): RequestData {
  const random = mulberry32(seed);
  const numeric = (): Column => ({
    type: 'float64',
    values: new Float64Array(rows),
    valid: new Uint8Array(rows),
  });
  const [departures, delay] = [numeric(), numeric()];
  const state: Column = {
    type: 'string',
    values: new Array<string | null>(rows).fill(null),
    valid: new Uint8Array(rows),
  };
  for (let i = 0; i < rows; i++) {
    (departures.values as Float64Array)[i] = Math.round(random() * 40);
    departures.valid[i] = 1;
    if (random() > 0.1) {
      (delay.values as Float64Array)[i] = 30 * gaussian(random);
      delay.valid[i] = 1;
    }
    if (random() > 0.1) {
      (state.values as (string | null)[])[i] = STATES[Math.floor(random() * STATES.length)];
      state.valid[i] = 1;
    }
  }
  return { columns: { [DEPARTURES]: departures, [DELAY]: delay, [STATE]: state }, rows };
}

const INPUTS: InputColumn[] = [
  { kind: 'numeric', name: DEPARTURES, mean: 20, std: 12, fill: 20, missingIndicator: false },
  { kind: 'numeric', name: DELAY, mean: 0, std: 30, fill: 0, missingIndicator: true },
  { kind: 'categorical', name: STATE, categories: STATES },
];

/** Two versions that score differently: v1 logistic, v2 a small MLP (random weights, seeded). */
function builtinModel(kind: 'logistic' | 'mlp', seed: number): BuiltinModel {
  const random = mulberry32(seed);
  const layer = (inputs: number, outputs: number, activation: 'relu' | 'none'): DenseLayer => ({
    inputs,
    outputs,
    weights: Float32Array.from({ length: inputs * outputs }, () => 2 * random() - 1),
    bias: Float32Array.from({ length: outputs }, () => random() - 0.5),
    activation,
  });
  const width = inputWidth(INPUTS);
  const layers =
    kind === 'logistic' ? [layer(width, 1, 'none')] : [layer(width, 8, 'relu'), layer(8, 1, 'none')];
  return { kind, inputs: INPUTS, layers };
}

/** Request rows as a client sends them: every input keyed by column, null where missing. */
function featureRows(data: RequestData): FeatureRow[] {
  return Array.from({ length: data.rows }, (_, i) => {
    const row: FeatureRow = {};
    for (const [name, column] of Object.entries(data.columns))
      row[name] = column.valid[i] ? (column.values[i] as number | string) : null;
    return row;
  });
}

const VERSIONS = [builtinModel('logistic', 1), builtinModel('mlp', 2)];

/** The rows predicted in these tests: as feature rows, and by entity `{ flight: '<index>' }`. */
const requests = requestData(64, 99);
const requestRows = featureRows(requests);

/** Latency of the stub online store: what keeps entity requests in flight. */
const FETCH_LATENCY_MS = 100;

/**
 * An online store answering `{ flight: '<i>' }` with request row i's features after `latencyMs`;
 * records the refs it was asked for.
 */
function stubOnlineStore(latencyMs: number, asked: string[][] = []): OnlineFeatures {
  return {
    async get(refs, rows) {
      asked.push(refs);
      await new Promise((resolve) => setTimeout(resolve, latencyMs));
      const picked = rows.map((row) => Number(row.flight));
      const columns: Record<string, Column> = {};
      for (const [name, column] of Object.entries(requests.columns)) {
        const values = Array.isArray(column.values)
          ? picked.map((i) => (column.values as (string | null)[])[i])
          : Float64Array.from(picked, (i) => (column.values as Float64Array)[i]);
        columns[name] = { type: column.type, values, valid: Uint8Array.from(picked, (i) => column.valid[i]) };
      }
      return { rows: rows.length, columns, views: [] };
    },
    close: async () => undefined,
  };
}

const until = async (condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const counterValue = async (counter: { get(): Promise<{ values: { value: number }[] }> }) =>
  (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);

const rejectsWith = (promise: Promise<unknown>, code: TRPCError['code'], message: RegExp) =>
  assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TRPCError, `expected a TRPCError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });

describe('predict: hot-swapped ONNX champions, prediction log, shadow scoring', () => {
  let testDb: TestDatabase;
  let database: Database;
  let dir: string;
  /** The two exported artifacts (v1: logistic, v2: mlp). */
  let artifacts: Uint8Array[];
  /** Offline scores of every request row by artifact: what each served version must return. */
  let offline: Float64Array[];
  const closers: Array<() => Promise<void>> = [];
  let registered = 0;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kaizen-predict-'));
    testDb = await createTestDatabase();
    database = connectDatabase(testDb.url);
    await runMigrations(database);
    await database.db.insert(trainingSets).values({
      id: 'ts_serving',
      path: '/dev/null',
      spineSha256: '0',
      rowCount: 0,
      contentHash: '0',
      manifest: {},
    });
    artifacts = [];
    offline = [];
    for (const model of VERSIONS) {
      const bytes = exportOnnx(model);
      const scorer = await createOnnxScorer(bytes);
      offline.push(await scorer.score(requests.columns, requests.rows));
      await scorer.release();
      artifacts.push(bytes);
    }
  });

  after(async () => {
    for (const close of closers.reverse()) await close();
    await database?.close();
    await testDb?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Registers artifact `which` (0: v1's, 1: v2's) as the next version of `model`. */
  async function register(model: string, which: number) {
    const artifactPath = path.join(dir, `${model}-${++registered}.onnx`);
    writeFileSync(artifactPath, artifacts[which]);
    return registerModelVersion(database.db, {
      name: model,
      artifactPath,
      trainer: 'builtin',
      params: { kind: VERSIONS[which].kind },
      trainingSetId: 'ts_serving',
      features: PINNED,
      metrics: {},
    });
  }

  const promote = (model: string, version: number, alias: 'champion' | 'challenger' = 'champion') =>
    setAlias(database.db, { model, alias, version, actor: 'test', reason: 'test' });

  /** A server's components against the test database; closed after the suite. */
  function serve(
    opts: {
      log?: Partial<PredictionLogOptions>;
      logDatabase?: Database;
      features?: OnlineFeatures;
      scopes?: Scope[];
    } = {},
  ) {
    const metrics = createServingMetrics();
    const lines: string[] = [];
    const models = createModelServer({
      db: database.db,
      pool: database.pool,
      metrics,
      log: (line) => lines.push(line),
    });
    const predictionLog = createPredictionLog({
      db: (opts.logDatabase ?? database).db,
      metrics,
      log: (line) => lines.push(line),
      ...opts.log,
    });
    const deps: ServingDeps = {
      db: database.db,
      pool: database.pool,
      keys: { verify: async () => null },
      features: opts.features ?? {
        get: () => Promise.reject(new Error('no online store in this test')),
        close: async () => undefined,
      },
      models,
      predictionLog,
      metrics,
      limits: { maxRows: 100, maxBodyBytes: 1 << 20 },
    };
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      // The log first: its pending shadow entries still need the models.
      await predictionLog.close();
      await models.close();
    };
    closers.push(close);
    const key = opts.scopes ? { ...KEY, scopes: opts.scopes } : KEY;
    return { caller: createCaller({ deps, key }), lines, metrics, models, predictionLog, close };
  }

  const expectedScore = (version: number, row: number) => offline[version - 1][row];

  test('an alias switch under load: no failed request, each response scored by the version it names', async () => {
    const [v1, v2] = [await register('hotswap', 0), await register('hotswap', 1)];
    await promote('hotswap', v1.version);
    // Entity requests hold their model version while they wait on the (stub) online store, so hundreds
    // are in flight across the switch; the feature-row requests in between keep the CPU saturated.
    const { caller, lines, models } = serve({ features: stubOnlineStore(FETCH_LATENCY_MS) });
    await until(() => models.ready(), 5000, 'the alias listener');

    type Served = { started: number; finished: number; row: number; version: number; score: number };
    const served: Served[] = [];
    const failures: unknown[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let stop = false;
    const call = async (row: number, viaEntities: boolean) => {
      const started = performance.now();
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        const result = await caller.predict(
          viaEntities
            ? { model: 'hotswap', entities: [{ flight: String(row) }] }
            : { model: 'hotswap', features: [requestRows[row]] },
        );
        const { score } = result.predictions[0];
        served.push({ started, finished: performance.now(), row, version: result.version, score });
      } catch (error) {
        failures.push(error);
      } finally {
        inFlight--;
      }
    };
    const worker = async (w: number) => {
      for (let n = 0; !stop; n++) await call((w * 7 + n) % requests.rows, n % 2 === 0);
    };
    const CONCURRENCY = 300;
    const load = Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
    await until(() => served.length >= 3000, 30_000, 'load on v1');
    const inFlightAtSwitch = inFlight;
    await promote('hotswap', v2.version);
    const committedAt = performance.now();
    const v2Started = () => served.some((o) => o.version === v2.version && o.started > committedAt);
    await until(v2Started, 2000, 'a request started after the switch to report v2');
    const afterSwitch = served.length;
    await until(() => served.length >= afterSwitch + 3000, 30_000, 'load on v2');
    stop = true;
    await load;

    assert.deepEqual(failures, [], 'no request fails during the swap');
    for (const o of served)
      assert.ok(
        Math.abs(o.score - expectedScore(o.version, o.row)) < 1e-6,
        `row ${o.row}: v${o.version} answered ${o.score}, v${o.version} computes ${expectedScore(o.version, o.row)}`,
      );
    const byVersion = (v: number) => served.filter((o) => o.version === v);
    const [onV1, onV2] = [byVersion(1), byVersion(2)];
    assert.equal(onV1.length + onV2.length, served.length);
    // Atomic swap: once a request got v2, every request started after it gets v2 too.
    const firstV2Start = Math.min(...onV2.map((o) => o.started));
    assert.deepEqual(
      onV1.filter((o) => o.started > firstV2Start),
      [],
      'no v1 answer to a request started after a v2 answer',
    );
    // Requests holding v1 finished on it while v2 was already serving: v1 outlived the swap for them.
    const v1FinishedLater = onV1.filter((o) => o.finished > firstV2Start).length;
    assert.ok(v1FinishedLater > 0, 'some requests in flight at the switch completed on v1');
    const pickedUpMs = firstV2Start - committedAt;
    assert.ok(pickedUpMs < 1000, `v2 served ${pickedUpMs.toFixed(0)} ms after the switch committed`);
    await until(() => lines.includes('model server: released hotswap@v1'), 2000, 'v1 session release');
    assert.deepEqual(models.loaded(), [{ model: 'hotswap', alias: 'champion', version: 2 }]);
    console.error(
      `hot swap: ${served.length} requests (up to ${maxInFlight} in flight, ${inFlightAtSwitch} at the switch), ` +
        `0 failed; ${onV1.length} on v1 (${v1FinishedLater} finished after v2 began), ${onV2.length} on v2; ` +
        `first v2 request started ${pickedUpMs.toFixed(1)} ms after the switch committed`,
    );
  });

  test('the prediction log keeps every prediction through close(); feedback joins by id', async () => {
    const v1 = await register('logged', 0);
    await promote('logged', v1.version);
    // A long interval and large batches: nothing is written before close() flushes.
    const { caller, metrics, close } = serve({ log: { flushIntervalMs: 60_000, batchRows: 5000 } });
    const calls = 50;
    const rowsPerCall = 4;
    const results = await Promise.all(
      Array.from({ length: calls }, (_, c) =>
        caller.predict({
          model: 'logged',
          features: Array.from(
            { length: rowsPerCall },
            (_, k) => requestRows[(c * rowsPerCall + k) % requests.rows],
          ),
        }),
      ),
    );
    await new Promise((resolve) => setImmediate(resolve));
    const ids = results.flatMap((r) => r.predictions.map((p) => p.id));
    assert.equal(new Set(ids).size, calls * rowsPerCall, 'ids are unique');
    assert.equal((await metrics.predictionLogBacklog.get()).values[0].value, calls * rowsPerCall);
    await close();
    assert.equal((await metrics.predictionLogBacklog.get()).values[0].value, 0);
    const logged = await database.db.select().from(predictions).where(eq(predictions.modelName, 'logged'));
    assert.equal(logged.length, calls * rowsPerCall, 'every prediction was written on close');
    const byId = new Map(logged.map((row) => [row.id, row]));
    results.forEach((result, c) =>
      result.predictions.forEach((p, k) => {
        const row = byId.get(p.id)!;
        const r = (c * rowsPerCall + k) % requests.rows;
        assert.equal(row.version, 1);
        assert.equal(row.score, p.score);
        assert.equal(row.apiKeyId, KEY.id);
        // Text inputs by name; the numeric ones are in `inputs`.
        assert.deepEqual(row.features, { [STATE]: requestRows[r][STATE] ?? null });
        assert.equal(row.shadowVersion, null);
        // What monitoring reads: source, lookup time, decision, the numeric inputs in input order, latency.
        assert.equal(row.source, 'online');
        assert.ok(
          row.eventTs instanceof Date && Math.abs(row.eventTs.getTime() - row.predictedAt.getTime()) < 1,
        );
        assert.equal(row.decision, p.score >= 0.5);
        assert.deepEqual(
          row.inputs,
          Object.values(requestRows[r]).map((v) =>
            typeof v === 'number' ? v : v === true ? 1 : v === false ? 0 : null,
          ),
        );
        assert.ok(row.latencyMs !== null && row.latencyMs >= 0);
        assert.equal(row.entities, null, 'feature rows carry no entity keys');
      }),
    );

    const { caller: feedback } = serve({ scopes: ['feedback:write'] });
    const labelled = ids.slice(0, 10);
    const first = await feedback.feedback.record({
      labels: labelled.map((predictionId, i) => ({ predictionId, label: i % 2 === 0 ? 0 : 1 })),
    });
    assert.deepEqual(first.counts, { recorded: 10 });
    // A corrected label replaces the first one when asked to; sent again, nothing changes.
    const corrected = { labels: [{ predictionId: labelled[0], label: 1 as const }] };
    assert.deepEqual((await feedback.feedback.record(corrected)).counts, { conflict: 1 });
    assert.deepEqual((await feedback.feedback.record({ ...corrected, replace: true })).counts, {
      replaced: 1,
    });
    assert.deepEqual((await feedback.feedback.record(corrected)).counts, { unchanged: 1 });
    const joined = await database.db
      .select({ id: predictions.id, score: predictions.score, label: predictionFeedback.label })
      .from(predictions)
      .innerJoin(predictionFeedback, eq(predictionFeedback.predictionId, predictions.id))
      .where(inArray(predictions.id, labelled));
    assert.equal(joined.length, 10);
    assert.equal(joined.find((row) => row.id === labelled[0])!.label, 1);
    await rejectsWith(
      feedback.feedback.record({ labels: [{ predictionId: 'nope', label: 1 }] }),
      'BAD_REQUEST',
      /uuid/i,
    );
    await rejectsWith(serve().caller.feedback.record(corrected), 'FORBIDDEN', /feedback:write/);
  });

  test('log write failures never fail a prediction: they are retried, then counted', async () => {
    const v1 = await register('unlogged', 0);
    await promote('unlogged', v1.version);
    // The log points at a database whose predictions table is gone.
    const brokenDb = await createTestDatabase();
    const broken = connectDatabase(brokenDb.url);
    closers.push(async () => {
      await broken.close();
      await brokenDb.drop();
    });
    await runMigrations(broken);
    await broken.db.execute(sql`DROP TABLE kaizen.predictions`);
    const { caller, metrics, lines, close } = serve({
      logDatabase: broken,
      log: { flushIntervalMs: 5, batchRows: 25, maxAttempts: 3, retryDelayMs: 5 },
    });
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        caller.predict({ model: 'unlogged', features: [requestRows[i % requests.rows]] }),
      ),
    );
    assert.equal(results.length, 40);
    for (const result of results) assert.equal(result.version, 1);
    await close();
    assert.equal(await counterValue(metrics.predictionLogFailures), 40, 'every lost prediction is counted');
    assert.ok(lines.some((line) => /not written: 3 attempts, last: .*predictions/.test(line)));
  });

  test('the log stores each entry exactly: NaN scores, nulls, features and times', async () => {
    const log = createPredictionLog({ db: database.db, metrics: createServingMetrics() });
    const at = new Date('2026-11-23T10:00:00.123Z');
    const entries = [
      {
        id: 'exact-1',
        source: 'online',
        entities: { airport: 'SFO', route: ['SFO', 'LAX'] },
        eventTs: at,
        score: Number.NaN,
        decision: false,
        shadowScore: 0.1 + 0.2,
        shadowVersion: 2,
        features: { a: 1.5, b: null, c: 'x"\\y' },
        inputs: [1.5, null, Number.NaN, 0.1 + 0.2],
        latencyMs: 0.123456789,
      },
      {
        id: 'exact-2',
        source: 'batch',
        entities: null,
        eventTs: new Date('2001-06-01T08:05:00Z'),
        score: 0.4293511211872101,
        decision: null,
        shadowScore: null,
        shadowVersion: null,
        features: {},
        inputs: null,
        latencyMs: null,
      },
    ].map((e) => ({ ...e, modelName: 'exact', version: 1, apiKeyId: null, predictedAt: at }));
    log.record(entries);
    await log.close();
    const rows = await database.db
      .select()
      .from(predictions)
      .where(eq(predictions.modelName, 'exact'))
      .orderBy(predictions.id);
    assert.deepEqual(rows, entries);
  });

  test('a bounded log buffer drops its oldest entries, counted', async () => {
    const v1 = await register('overflow', 0);
    await promote('overflow', v1.version);
    const { caller, metrics, close } = serve({
      log: { flushIntervalMs: 60_000, batchRows: 5000, maxBuffered: 30 },
    });
    const results = [];
    for (let i = 0; i < 50; i++)
      results.push(await caller.predict({ model: 'overflow', features: [requestRows[i % requests.rows]] }));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await counterValue(metrics.predictionLogFailures), 20);
    await close();
    const logged = await database.db.select().from(predictions).where(eq(predictions.modelName, 'overflow'));
    assert.deepEqual(
      logged.map((row) => row.id).sort(),
      results
        .slice(20)
        .map((r) => r.predictions[0].id)
        .sort(),
      'the newest 30 are kept',
    );
  });

  test('shadow scoring logs the challenger version and score with the same prediction id', async () => {
    const [v1, v2] = [await register('shadowed', 0), await register('shadowed', 1)];
    await promote('shadowed', v1.version);
    await promote('shadowed', v2.version, 'challenger');
    const { caller, models, predictionLog } = serve({ log: { flushIntervalMs: 10 } });
    const before = await caller.predict({ model: 'shadowed', features: requestRows.slice(0, 5) });
    assert.deepEqual(models.loaded(), [{ model: 'shadowed', alias: 'champion', version: 1 }]);
    await setShadow(database.db, 'shadowed', true, 'test', 'shadow v2');
    await until(() => models.loaded().length === 2, 1000, 'the challenger to load');
    const shadowed = await caller.predict({ model: 'shadowed', features: requestRows.slice(0, 5) });
    assert.equal(shadowed.version, 1, 'the response is the champion');
    await predictionLog.flush();
    const rows = await database.db.select().from(predictions).where(eq(predictions.modelName, 'shadowed'));
    const byId = new Map(rows.map((row) => [row.id, row]));
    shadowed.predictions.forEach((p, i) => {
      const row = byId.get(p.id)!;
      assert.equal(row.version, 1);
      assert.ok(Math.abs(row.score - expectedScore(1, i)) < 1e-6);
      assert.equal(row.shadowVersion, 2);
      assert.ok(
        Math.abs(row.shadowScore! - expectedScore(2, i)) < 1e-6,
        'the challenger scored the same row',
      );
    });
    for (const p of before.predictions) assert.equal(byId.get(p.id)!.shadowVersion, null);
    await setShadow(database.db, 'shadowed', false, 'test', 'done');
    await until(() => models.loaded().length === 1, 1000, 'the challenger to be unloaded');
  });

  test('10 promotions and 10 rollbacks while predict runs at half its peak: no failure, each answer its version’s, each switch served within 1 s', async () => {
    const [v1, v2] = [await register('flipflop', 0), await register('flipflop', 1)];
    await promote('flipflop', v1.version);
    const { caller, models } = serve();
    await until(() => models.ready(), 5000, 'the alias listener');
    type Served = { started: number; row: number; version: number; score: number };
    const served: Served[] = [];
    const failures: unknown[] = [];
    let row = 0;
    const call = async () => {
      const started = performance.now();
      const i = row++ % requests.rows;
      try {
        const result = await caller.predict({ model: 'flipflop', features: [requestRows[i]] });
        served.push({ started, row: i, version: result.version, score: result.predictions[0].score });
      } catch (error) {
        failures.push(error);
      }
    };
    // Peak: a closed loop of 32 callers for a second.
    let stop = false;
    const before = served.length;
    const peakStarted = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (!stop && performance.now() - peakStarted < 1000) await call();
      }),
    );
    const peakPerSecond = ((served.length - before) * 1000) / (performance.now() - peakStarted);
    // Half of it, paced: a batch every 10 ms.
    const perTick = Math.max(1, Math.round(peakPerSecond / 2 / 100));
    const pending = new Set<Promise<void>>();
    const ticker = setInterval(() => {
      for (let k = 0; k < perTick; k++) {
        const p = call().finally(() => pending.delete(p));
        pending.add(p);
      }
    }, 10);
    const pickedUp: number[] = [];
    try {
      for (let cycle = 0; cycle < 10; cycle++)
        for (const version of [v2.version, v1.version]) {
          if (version === v2.version) await promote('flipflop', version);
          else await rollbackChampion(database.db, 'flipflop', 'test', 'rollback under load');
          const committedAt = performance.now();
          await until(
            () => served.some((o) => o.started > committedAt && o.version === version),
            2000,
            `v${version} served after switch ${pickedUp.length + 1}`,
          );
          pickedUp.push(
            Math.min(
              ...served.filter((o) => o.started > committedAt && o.version === version).map((o) => o.started),
            ) - committedAt,
          );
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
    } finally {
      clearInterval(ticker);
      stop = true;
      await Promise.all(pending);
    }
    assert.deepEqual(failures, [], 'no request fails across 20 switches');
    for (const o of served)
      assert.ok(
        Math.abs(o.score - expectedScore(o.version, o.row)) < 1e-6,
        `row ${o.row}: v${o.version} answered ${o.score}, v${o.version} computes ${expectedScore(o.version, o.row)}`,
      );
    assert.equal(pickedUp.length, 20);
    assert.ok(
      Math.max(...pickedUp) < 1000,
      `every switch served within 1 s: ${pickedUp.map((ms) => ms.toFixed(0)).join(', ')} ms`,
    );
    console.error(
      `promotions under load: peak ${peakPerSecond.toFixed(0)}/s, paced ${perTick * 100}/s, ${served.length} answers, ` +
        `switch served after ${Math.max(...pickedUp).toFixed(0)} ms at most (median ${[...pickedUp].sort((a, b) => a - b)[10].toFixed(0)} ms)`,
    );
  });

  test('the alias listener reconnects after losing its connection and catches up on missed switches', async () => {
    const [v1, v2] = [await register('reconnect', 0), await register('reconnect', 1)];
    await promote('reconnect', v1.version);
    const { caller, lines, models } = serve();
    await until(() => models.ready(), 5000, 'the alias listener');
    assert.equal((await caller.predict({ model: 'reconnect', features: [requestRows[0]] })).version, 1);
    // Cut the model server's listener (as a Postgres restart would), then switch while it is away.
    await database.pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'kaizen-model-server'`,
    );
    await promote('reconnect', v2.version);
    await until(
      () => !models.ready() || lines.some((l) => l.includes('listener on kaizen_model_alias lost')),
      1000,
      'the loss',
    );
    await until(
      async () => (await caller.predict({ model: 'reconnect', features: [requestRows[0]] })).version === 2,
      3000,
      'the missed switch to be served',
    );
    assert.ok(models.ready());
    assert.ok(
      lines.some((l) =>
        /kaizen-model-server: listener on kaizen_model_alias lost .*; reconnecting in \d+ ms/.test(l),
      ),
    );
  });

  test('a tampered artifact is refused with a typed error; a bad new champion leaves the old one serving', async () => {
    const tampered = await register('tampered', 0);
    await promote('tampered', tampered.version);
    const bytes = readFileSync(tampered.artifactPath);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(tampered.artifactPath, bytes);
    const { caller, lines } = serve();
    await rejectsWith(
      caller.predict({ model: 'tampered', features: [requestRows[0]] }),
      'PRECONDITION_FAILED',
      /model "tampered" cannot be served: refusing model tampered@v1: .* has sha256 [0-9a-f]{64}, registered/,
    );
    await rejectsWith(
      caller.predict({ model: 'absent', features: [requestRows[0]] }),
      'NOT_FOUND',
      /unknown model "absent"/,
    );

    const [good, bad] = [await register('guarded', 0), await register('guarded', 1)];
    await promote('guarded', good.version);
    assert.equal((await caller.predict({ model: 'guarded', features: [requestRows[0]] })).version, 1);
    writeFileSync(bad.artifactPath, 'not the registered bytes');
    await promote('guarded', bad.version);
    await until(
      () => lines.some((l) => l.startsWith('model server: not serving guarded@v2')),
      1000,
      'the refusal',
    );
    const still = await caller.predict({ model: 'guarded', features: [requestRows[1]] });
    assert.equal(still.version, 1, 'the old champion keeps serving');
    assert.ok(Math.abs(still.predictions[0].score - expectedScore(1, 1)) < 1e-6);
  });

  test('invalid inputs are BAD_REQUEST naming the problem; entity rows fetch exactly the pinned features', async () => {
    const v1 = await register('checked', 0);
    await promote('checked', v1.version);
    const asked: string[][] = [];
    const features = stubOnlineStore(0, asked);
    const { caller } = serve({ features });
    const entities = [{ flight: '5' }, { flight: '9' }];
    const result = await caller.predict({ model: 'checked', entities });
    assert.deepEqual(asked, [PINNED], 'exactly the pinned refs, versions included');
    assert.deepEqual(
      result.predictions.map((p) => p.score),
      [expectedScore(1, 5), expectedScore(1, 9)],
    );

    const { [STATE]: _state, ...withoutState } = requestRows[0];
    await rejectsWith(
      caller.predict({ model: 'checked', features: [requestRows[1], withoutState] }),
      'BAD_REQUEST',
      /model checked@v1: missing inputs: airport_info__state$/,
    );
    await rejectsWith(
      caller.predict({ model: 'checked', features: [{ ...requestRows[0], extra: 1 }] }),
      'BAD_REQUEST',
      /unknown inputs: extra/,
    );
    await rejectsWith(
      caller.predict({ model: 'checked', features: [{ ...requestRows[0], [DEPARTURES]: 'many' }] }),
      'BAD_REQUEST',
      /input "airport_departures__departures_1h" expects a number, a boolean or null; row 0 has "many"/,
    );
    await rejectsWith(
      caller.predict({ model: 'checked', features: [{ ...requestRows[0], [STATE]: 5 }] }),
      'BAD_REQUEST',
      /input "airport_info__state" expects a string or null/,
    );
    await rejectsWith(
      caller.predict({ model: 'checked', features: [requestRows[0]], entities }),
      'BAD_REQUEST',
      /exactly one of entities and features/,
    );
    await rejectsWith(
      caller.predict({ model: 'checked', features: Array.from({ length: 101 }, () => requestRows[0]) }),
      'BAD_REQUEST',
      /101 rows: at most 100 per request/,
    );
    await rejectsWith(caller.predict({ model: 'checked', features: [] }), 'BAD_REQUEST', /./);
  });
});
