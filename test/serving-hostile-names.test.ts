/**
 * SQL injection and path traversal through every name a tRPC procedure takes (views, features,
 * entities, models, label sources, keys): each call is a typed 4xx or, where the text is data (an
 * entity key, a label's event), an ordinary answer that stores it verbatim; afterwards every table of
 * the database is as it was: no injected statement ran.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TRPCError } from '@trpc/server';
import { eq, sql } from 'drizzle-orm';
import pg from 'pg';
import { loadConfig } from '../config.js';
import { predictions } from '../db/schema.js';
import { airport, route } from '../examples/flights/features.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import { setAlias } from '../models/registry.js';
import { createApiKey } from '../serving/api-keys.js';
import { closeServingDeps, createServingDeps } from '../serving/app.js';
import type { ServingDeps } from '../serving/context.js';
import { createCaller } from '../serving/router.js';
import { exportOnnx } from '../trainers/builtin/onnx-export.js';
import { SAMPLE_FLIGHT_VIEWS } from './support/flights-sample.js';
import { startRegistryFixture, type RegistryFixture } from './support/registry-fixture.js';

const MODEL = 'flight_delays';
/** The fixture pins `airport_departures@v1:departures_1h`: this is its input column. */
const INPUT = 'airport_departures__departures_1h';

/** Each would drop, empty or widen something if it ever reached SQL as text. */
const INJECTIONS = [
  "x'; DROP TABLE kaizen.api_keys; --",
  'x" OR 1=1 --',
  "x' OR '1'='1",
  "x'); DELETE FROM kaizen.models; --",
  'x"; DROP SCHEMA kaizen_online CASCADE; --',
  "x\\'; TRUNCATE kaizen.model_versions; --",
  'x$$; DROP TABLE kaizen.model_aliases; $$',
  "x' UNION SELECT key_hash FROM kaizen.api_keys --",
  'x/*',
  'x;--',
];
const TRAVERSALS = ['../../etc/passwd', '..\\..\\windows\\win.ini', '/etc/passwd', '%2e%2e%2fetc%2fpasswd'];
const HOSTILE = [...INJECTIONS, ...TRAVERSALS];

/** score = sigmoid(x). */
const identityLogistic = () =>
  exportOnnx({
    kind: 'logistic',
    inputs: [{ kind: 'numeric', name: INPUT, mean: 0, std: 1, fill: 0, missingIndicator: false }],
    layers: [
      { inputs: 1, outputs: 1, weights: Float32Array.of(1), bias: Float32Array.of(0), activation: 'none' },
    ],
  });

/** Every table of Kaizen's schemas with a digest of its rows: any change an injection made shows here. */
async function snapshot(pool: pg.Pool, skip: string[] = []): Promise<Map<string, string>> {
  const { rows: tables } = await pool.query<{ schema: string; name: string }>(
    `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
     WHERE table_schema LIKE 'kaizen%' ORDER BY 1, 2`,
  );
  const digests = new Map<string, string>();
  for (const { schema, name } of tables) {
    const table = `${schema}.${name}`;
    if (skip.includes(table)) continue;
    const quoted = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`;
    const { rows } = await pool.query<{ digest: string }>(
      `SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest FROM ${quoted} t`,
    );
    digests.set(table, rows[0].digest);
  }
  return digests;
}

/** The call's TRPCError code, or 'OK'. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (error) {
    assert.ok(error instanceof TRPCError, `expected a TRPCError, got ${String(error)}`);
    return error.code;
  }
}

describe('hostile names in every tRPC procedure (Postgres)', () => {
  let fixture: RegistryFixture;
  let deps: ServingDeps;
  let caller: ReturnType<typeof createCaller>;
  let before_: Map<string, string>;

  before(async () => {
    fixture = await startRegistryFixture();
    const { db, pool } = fixture.database;
    await applyDefinitions(db, { entities: [airport, route], views: SAMPLE_FLIGHT_VIEWS });
    const { version } = await fixture.register(MODEL, identityLogistic());
    await setAlias(db, { model: MODEL, alias: 'champion', version, actor: 'test', reason: 'first' });
    deps = createServingDeps(
      loadConfig({ ...process.env, KAIZEN_SERVE_PRELOAD: '' }),
      fixture.database,
      () => {},
    );
    const { secret } = await createApiKey(db, { name: 'ops', scopes: ['admin'] });
    caller = createCaller({ deps, key: await deps.keys.verify(secret) });
    // The log is written off the request path: compared after its flush, by content.
    before_ = await snapshot(pool, ['kaizen.predictions']);
  });

  after(async () => {
    if (deps) await closeServingDeps(deps);
    await fixture?.close();
  });

  test('as a name: every procedure answers its typed BAD_REQUEST or NOT_FOUND', async () => {
    const { features, predict, models, admin } = caller;
    const entities = [{ airport: 'SFO' }];
    // The code each procedure must answer, and the call with the hostile name in place.
    const calls: Array<[string, 'BAD_REQUEST' | 'NOT_FOUND', (name: string) => Promise<unknown>]> = [
      [
        'features.get view',
        'BAD_REQUEST',
        (n) => features.get({ features: [`${n}:departures_1h`], entities }),
      ],
      [
        'features.get view@v1',
        'BAD_REQUEST',
        (n) => features.get({ features: [`${n}@v1:departures_1h`], entities }),
      ],
      [
        'features.get feature',
        'BAD_REQUEST',
        (n) => features.get({ features: [`airport_departures:${n}`], entities }),
      ],
      ['features.get featureService', 'BAD_REQUEST', (n) => features.get({ featureService: n, entities })],
      [
        'features.get join key',
        'BAD_REQUEST',
        (n) => features.get({ features: ['airport_departures:departures_1h'], entities: [{ [n]: 'SFO' }] }),
      ],
      ['predict model', 'NOT_FOUND', (n) => predict({ model: n, features: [{ [INPUT]: 1 }] })],
      ['predict join key', 'BAD_REQUEST', (n) => predict({ model: MODEL, entities: [{ [n]: 'SFO' }] })],
      [
        'predict input column',
        'BAD_REQUEST',
        (n) => predict({ model: MODEL, features: [{ [INPUT]: 1, [n]: 1 }] }),
      ],
      ['models.get', 'NOT_FOUND', (n) => models.get({ model: n })],
      ['models.history', 'NOT_FOUND', (n) => models.history({ model: n })],
      ['models.monitoring', 'NOT_FOUND', (n) => models.monitoring({ model: n })],
      ['admin.keys.revoke', 'NOT_FOUND', (n) => admin.keys.revoke({ key: n })],
    ];
    const unexpected: string[] = [];
    for (const [procedure, expected, call] of calls)
      for (const name of HOSTILE) {
        const code = await outcome(call(name));
        if (code !== expected)
          unexpected.push(`${procedure} ${JSON.stringify(name)}: ${code}, not ${expected}`);
      }
    assert.deepEqual(unexpected, []);
  });

  test('as data (entity keys, a label source): an ordinary answer, stored verbatim', async () => {
    const entities = HOSTILE.map((key) => ({ airport: key }));
    const { results } = await caller.features.get({
      features: ['airport_departures:departures_1h'],
      entities,
    });
    assert.deepEqual(
      results.map((r) => r.views.airport_departures.status),
      HOSTILE.map(() => 'missing'),
    );
    const routes = await caller.features.get({
      features: ['route_delays:mean_delay_7d'],
      entities: HOSTILE.map((key) => ({ route: [key, key] })),
    });
    assert.ok(routes.results.every((r) => r.views.route_delays.status === 'missing'));

    const predicted = await caller.predict({ model: MODEL, entities });
    assert.equal(predicted.predictions.length, HOSTILE.length);
    await deps.predictionLog.flush();
    const logged = await fixture.database.db
      .select({ entities: predictions.entities })
      .from(predictions)
      .where(eq(predictions.modelName, MODEL));
    const json = (rows: unknown[]) => rows.map((row) => JSON.stringify(row)).sort();
    assert.deepEqual(json(logged.map((p) => p.entities)), json(entities));

    const feedback = await caller.feedback.record({
      labels: HOSTILE.map((name) => ({ source: name, entities: { [name]: name }, eventTime: 0, label: 1 })),
    });
    assert.deepEqual(
      feedback.outcomes.map((o) => [o.outcome, o.reason]),
      HOSTILE.map((name) => [
        'invalid_event',
        `unknown label source "${name}": define it as code and run kaizen apply`,
      ]),
    );
  });

  test('afterwards every table holds what it held: no injected statement ran', async () => {
    assert.deepEqual(await snapshot(fixture.database.pool, ['kaizen.predictions']), before_);
    const { rows } = await fixture.database.db.execute<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM kaizen.api_keys`,
    );
    assert.equal(rows[0].n, 1);
  });
});
