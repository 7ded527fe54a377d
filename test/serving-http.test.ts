import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../config.js';
import { connectDatabase, type Database } from '../db/client.js';
import { predictions } from '../db/schema.js';
import { setAlias } from '../models/registry.js';
import { createApiKey } from '../serving/api-keys.js';
import { createServingDeps } from '../serving/app.js';
import { createKaizenClient } from '../serving/client.js';
import { startServer, type RunningServer } from '../serving/server.js';
import { exportOnnx } from '../trainers/builtin/onnx-export.js';
import { startRegistryFixture, type RegistryFixture } from './support/registry-fixture.js';

const MODEL = 'flight_delays';
/** The fixture pins `airport_departures@v1:departures_1h`: this is its input column. */
const INPUT = 'airport_departures__departures_1h';
const MAX_BODY_BYTES = 4096;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** score = sigmoid(x): easy to check through the whole HTTP path. */
const identityLogistic = () =>
  exportOnnx({
    kind: 'logistic',
    inputs: [{ kind: 'numeric', name: INPUT, mean: 0, std: 1, fill: 0, missingIndicator: false }],
    layers: [
      {
        inputs: 1,
        outputs: 1,
        weights: Float32Array.of(1),
        bias: Float32Array.of(0),
        activation: 'none',
      },
    ],
  });

const config = loadConfig({
  ...process.env,
  KAIZEN_SERVE_PRELOAD: MODEL,
  KAIZEN_SERVE_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
});

async function serve(database: Database, logs: string[]): Promise<RunningServer> {
  const log = (line: string) => logs.push(line);
  const deps = createServingDeps(config, database, log);
  return startServer({ deps, port: 0, host: '127.0.0.1', shutdownTimeoutMs: 5000, log });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('kaizen serve over HTTP (real Postgres, real ONNX model)', () => {
  let fixture: RegistryFixture;
  let server: RunningServer;
  let secret: string;
  const logs: string[] = [];
  const get = (path: string) => fetch(`${server.url}${path}`);
  const postPredict = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/trpc/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
  const predictBody = (x: number) => JSON.stringify({ model: MODEL, features: [{ [INPUT]: x }] });

  before(async () => {
    fixture = await startRegistryFixture();
    server = await serve(fixture.database, logs);
    ({ secret } = await createApiKey(fixture.database.db, {
      name: 'product',
      scopes: ['predict', 'feedback:write'],
    }));
  });

  after(async () => {
    await server?.close();
    await fixture?.close();
  });

  test('/healthz answers while /readyz waits for the preloaded champion', async () => {
    assert.equal((await get('/healthz')).status, 200);
    const notReady = await get('/readyz');
    assert.equal(notReady.status, 503);
    assert.deepEqual(await notReady.json(), { ready: false, database: true, models: false, draining: false });
    assert.equal((await get('/nowhere')).status, 404);
  });

  test('/readyz is 200 once the champion is promoted (picked up by LISTEN/NOTIFY)', async () => {
    const { version } = await fixture.register(MODEL, identityLogistic());
    await setAlias(fixture.database.db, {
      model: MODEL,
      alias: 'champion',
      version,
      actor: 'test',
      reason: 'first model',
    });
    await waitFor('/readyz 200', async () => (await get('/readyz')).status === 200);
  });

  test('the typed client batches calls made together into one HTTP request', async () => {
    const requests: string[] = [];
    const client = createKaizenClient({
      url: server.url,
      apiKey: secret,
      fetch: (input, init) => {
        requests.push(String(input));
        return fetch(input, init);
      },
    });
    const [a, b] = await Promise.all([
      client.predict.mutate({ model: MODEL, features: [{ [INPUT]: 0 }] }),
      client.predict.mutate({ model: MODEL, features: [{ [INPUT]: 1 }, { [INPUT]: -2 }] }),
      client.feedback.record.mutate({ labels: [{ predictionId: randomUUID(), label: 1 }] }),
    ]);
    assert.equal(requests.length, 1, `one HTTP request, got ${requests.join(', ')}`);
    assert.match(requests[0], /\/trpc\/predict,predict,feedback\.record\?batch=1$/);
    assert.equal(a.version, 1);
    assert.ok(Math.abs(a.predictions[0].score - 0.5) < 1e-6);
    assert.deepEqual(
      b.predictions.map((p) => Math.round(p.score * 1e6)),
      [sigmoid(1), sigmoid(-2)].map((s) => Math.round(s * 1e6)),
    );
    // Queries batch separately from mutations (tRPC never mixes them): one more request.
    const [models, model] = await Promise.all([
      client.models.list.query(),
      client.models.get.query({ model: MODEL }),
    ]);
    assert.equal(requests.length, 2);
    assert.deepEqual(
      models.map((m) => [m.name, m.champion]),
      [[MODEL, 1]],
    );
    assert.equal(model.name, MODEL);
  });

  test('a missing or invalid key is HTTP 401; the key works as Bearer or x-api-key', async () => {
    assert.equal((await postPredict(predictBody(0))).status, 401);
    assert.equal((await postPredict(predictBody(0), { authorization: 'Bearer kz_nope' })).status, 401);
    assert.equal((await postPredict(predictBody(0), { authorization: `Bearer ${secret}` })).status, 200);
    assert.equal((await postPredict(predictBody(0), { 'x-api-key': secret })).status, 200);
    assert.ok(
      logs.every((line) => !line.includes(secret)),
      'no log line carries the secret',
    );
  });

  test('every call goes through tRPC: status codes and error shapes of its adapter, GET and POST alike', async () => {
    const auth: Record<string, string> = { authorization: `Bearer ${secret}` };
    const viaGet = (paths: string, input: unknown, batch: boolean, headers = auth) =>
      fetch(
        `${server.url}/trpc/${paths}?${batch ? 'batch=1&' : ''}input=${encodeURIComponent(JSON.stringify(input))}`,
        { headers },
      );
    const viaPost = (paths: string, input: unknown, batch: boolean, headers = auth) =>
      fetch(`${server.url}/trpc/${paths}${batch ? '?batch=1' : ''}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(input),
      });
    const codes = (body: unknown) =>
      (Array.isArray(body) ? body : [body]).map(
        (b: { error?: { data: { code: string; zodIssues: unknown[] | null; stack?: unknown } } }) => {
          assert.equal(b.error?.data.stack, undefined, 'never a stack trace');
          return b.error ? `${b.error.data.code}${b.error.data.zodIssues ? ' (zod)' : ''}` : 'OK';
        },
      );
    const cases: Array<[string, unknown, boolean, Record<string, string> | undefined, number, string[]]> = [
      ['models.get', { model: MODEL }, false, undefined, 200, ['OK']],
      ['models.get', { model: '' }, false, undefined, 400, ['BAD_REQUEST (zod)']],
      ['models.get', { model: 'no_such_model' }, false, undefined, 404, ['NOT_FOUND']],
      ['models.get', { model: MODEL }, false, {}, 401, ['UNAUTHORIZED']],
      ['models.nothing', {}, false, undefined, 404, ['NOT_FOUND']],
      ['models.get,models.list', { 0: { model: MODEL } }, true, undefined, 200, ['OK', 'OK']],
      [
        'models.get,models.get',
        { 0: { model: MODEL }, 1: { model: 7 } },
        true,
        undefined,
        207,
        ['OK', 'BAD_REQUEST (zod)'],
      ],
      // The key has scope predict only.
      [
        'features.get',
        { features: ['airport_departures:departures_1h'], entities: [{ airport: 'SFO' }] },
        false,
        undefined,
        403,
        ['FORBIDDEN'],
      ],
    ];
    for (const [paths, input, batch, headers, status, expected] of cases) {
      for (const call of [viaGet, viaPost]) {
        const response = await call(paths, input, batch, headers ?? auth);
        const label = `${call === viaGet ? 'GET' : 'POST'} ${paths} ${JSON.stringify(input)}`;
        assert.equal(response.status, status, label);
        assert.deepEqual(codes(await response.json()), expected, label);
      }
    }
  });

  test('a body over the size limit is refused with 413 PAYLOAD_TOO_LARGE', async () => {
    const rows = Array.from({ length: 500 }, (_, i) => ({ [INPUT]: i }));
    const body = JSON.stringify({ model: MODEL, features: rows });
    assert.ok(body.length > MAX_BODY_BYTES);
    const response = await postPredict(body, { authorization: `Bearer ${secret}` });
    assert.equal(response.status, 413);
    const { error } = (await response.json()) as { error: { data: { code: string } } };
    assert.equal(error.data.code, 'PAYLOAD_TOO_LARGE');
  });

  test('/metrics renders the request histogram in Prometheus text', async () => {
    const response = await get('/metrics');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await response.text();
    assert.match(text, /kaizen_request_duration_seconds_count\{procedure="predict",code="OK"\} \d+/);
    assert.match(text, /kaizen_request_errors_total\{procedure="predict",code="UNAUTHORIZED"\} 2/);
    // Refused before a procedure ran: counted too.
    assert.match(text, /kaizen_request_errors_total\{procedure="predict",code="PAYLOAD_TOO_LARGE"\} 1/);
    assert.match(text, /kaizen_request_errors_total\{procedure="models.nothing",code="NOT_FOUND"\} 2/);
    assert.match(text, /kaizen_model_loaded_version\{model="flight_delays",alias="champion"\} 1/);
  });

  test('/readyz is 503 when Postgres is unreachable', async () => {
    const unreachable = connectDatabase('postgres://kaizen@127.0.0.1:1/nowhere');
    const lonely = await serve(unreachable, []);
    try {
      const response = await fetch(`${lonely.url}/readyz`);
      assert.equal(response.status, 503);
      assert.equal(((await response.json()) as { database: boolean }).database, false);
      assert.equal((await fetch(`${lonely.url}/healthz`)).status, 200);
    } finally {
      await lonely.close();
      await unreachable.close();
    }
  });

  test('shutdown finishes in-flight requests, refuses new ones, then flushes the prediction log', async () => {
    // A request whose body is still arriving when the shutdown starts.
    const body = Buffer.from(predictBody(3));
    const inFlight = http.request(`${server.url}/trpc/predict`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': body.length,
        authorization: `Bearer ${secret}`,
      },
    });
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      inFlight.on('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      inFlight.on('error', reject);
    });
    inFlight.write(body.subarray(0, 10));
    await sleep(100);

    const closing = server.close();
    await assert.rejects(fetch(`${server.url}/healthz`), 'new connections are refused');
    inFlight.end(body.subarray(10));
    const { status, text } = await response;
    assert.equal(status, 200);
    const { result } = JSON.parse(text) as { result: { data: { predictions: { score: number }[] } } };
    assert.ok(Math.abs(result.data.predictions[0].score - sigmoid(3)) < 1e-6);
    await closing;

    // 1 + 2 (batch) + 2 (auth test) + 1 (in flight) predictions, all written before close() resolved.
    const logged = await fixture.database.db.select().from(predictions);
    assert.equal(logged.length, 6);
    assert.ok(logged.every((row) => row.modelName === MODEL && row.version === 1));
  });
});
