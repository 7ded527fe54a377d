import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { TRPCError } from '@trpc/server';
import pg from 'pg';
import { trainingSets } from '../db/schema.js';
import { airport, route } from '../examples/flights/features.js';
import { parseDuration } from '../feature-store/definitions/duration.js';
import { MATERIALIZATION_CHANNEL } from '../feature-store/materialization/chunk.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import { createFeatureStore } from '../feature-store/index.js';
import { getViewVersion } from '../feature-store/registry/views.js';
import { offlineTable, onlineTable } from '../feature-store/registry/store-tables.js';
import type { FeatureViewDefinition } from '../feature-store/definitions/types.js';
import { registerModelVersion, setAlias } from '../models/registry.js';
import type { ServingDeps } from '../serving/context.js';
import { CachedView, OnlineRowCache } from '../serving/feature-cache.js';
import { createServingMetrics, type ServingMetrics } from '../serving/metrics.js';
import { createOnlineFeatures } from '../serving/online-features.js';
import { createCaller } from '../serving/router.js';
import { SAMPLE_FLIGHT_VIEWS, writeFlightsSample } from './support/flights-sample.js';
import { startIntegration, type Integration } from './support/integration.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const JAN_1 = Date.UTC(2001, 0, 1);
// Chunk boundaries of the weekly, epoch-aligned grid: the second materialization adds one chunk.
const JAN_11 = Date.UTC(2001, 0, 11);
const JAN_18 = Date.UTC(2001, 0, 18);
const ORIGINS = ['SFO', 'OAK', 'SJC'];
const KEY = { id: 't', name: 't', scopes: ['features:read' as const] };

const VIEWS = SAMPLE_FLIGHT_VIEWS;

type Value = number | string | boolean | null;
type Result = {
  values: Record<string, Value>;
  views: Record<string, { version: number; status: string; eventTs: string | null }>;
};

async function lookups(metrics: ServingMetrics): Promise<{ hit: number; miss: number }> {
  const { values } = await metrics.featureCacheLookups.get();
  const count = (result: string) => values.find((v) => v.labels.result === result)?.value ?? 0;
  return { hit: count('hit'), miss: count('miss') };
}

async function waitFor(
  what: string,
  done: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function assertBadRequest(call: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof TRPCError, String(error));
    assert.equal(error.code, 'BAD_REQUEST');
    assert.match(error.message, pattern);
    return true;
  });
}

describe('features.get: online features through the invalidated cache (Postgres + Temporal)', () => {
  let env: Integration;
  const closers: Array<() => Promise<void>> = [];

  /** A server's online features with a fixed clock, called in-process like a product service would. */
  function serve(nowMs: number) {
    const metrics = createServingMetrics();
    const lines: string[] = [];
    const { db, pool } = env.database;
    const store = createFeatureStore({ db, dataRoot: env.dataRoot, latestTtlMs: 1000 });
    const features = createOnlineFeatures({ store, metrics, now: () => nowMs, log: (l) => lines.push(l) });
    closers.push(() => features.close());
    const deps = {
      db,
      pool,
      features,
      metrics,
      limits: { maxRows: 5000, maxBodyBytes: 1 << 20 },
    } as Partial<ServingDeps> as ServingDeps; // keys, models and the prediction log are not used here
    const caller = createCaller({ deps, key: KEY });
    const get = (refs: string[], entities: Array<Record<string, string | string[] | null>>) =>
      caller.features.get({ features: refs, entities });
    return { caller, get, metrics, lines };
  }

  /** Every entity's latest offline row (greatest event_ts, then created_ts, then ingested last). */
  async function latestOffline(view: string) {
    const { tables } = await getViewVersion(env.database.db, view);
    const { rows } = await env.database.pool.query(
      `SELECT DISTINCT ON (entity_key) * FROM ${offlineTable(tables.offline)}
       ORDER BY entity_key, event_ts DESC, created_ts DESC, ingest_seq DESC`,
    );
    return rows as Array<Record<string, unknown> & { entity_key: string; event_ts: Date }>;
  }

  /**
   * Online values of every entity of `view` equal its latest offline row, or are null with status
   * expired when that row is older than the TTL at `nowMs`. Returns the statuses seen.
   */
  async function assertOnlineMatchesOffline(
    server: ReturnType<typeof serve>,
    view: FeatureViewDefinition,
    nowMs: number,
  ): Promise<Record<string, number>> {
    const offline = await latestOffline(view.name);
    assert.ok(offline.length > 0, `${view.name} has offline rows`);
    const { features } = await getViewVersion(env.database.db, view.name);
    const refs = features.map((f) => `${view.name}:${f.name}`);
    const joinKey = view.entities[0].joinKey;
    // A route's key parts, e.g. ['SFO', 'LAX'] (no airport code holds a separator to escape).
    const entities = offline.map((row) => ({
      [joinKey]: joinKey === 'route' ? row.entity_key.split('-') : row.entity_key,
    }));
    const answer = await server.get(refs, entities);
    assert.deepEqual(
      answer.features,
      features.map((f) => `${view.name}__${f.name}`),
    );
    const oldest = view.ttl ? nowMs - parseDuration(view.ttl) : -Infinity;
    const statuses: Record<string, number> = {};
    answer.results.forEach((result: Result, i) => {
      const row = offline[i];
      const state = result.views[view.name];
      const expired = row.event_ts.getTime() < oldest;
      assert.deepEqual(
        state,
        { version: 1, status: expired ? 'expired' : 'present', eventTs: row.event_ts.toISOString() },
        `${view.name} ${row.entity_key}`,
      );
      for (const f of features)
        assert.equal(
          result.values[`${view.name}__${f.name}`],
          expired ? null : row[f.name],
          `${row.entity_key} ${f.name}`,
        );
      statuses[state.status] = (statuses[state.status] ?? 0) + 1;
    });
    return statuses;
  }

  before(async () => {
    env = await startIntegration();
    // Written once (it decodes all 3M flights); the last week is materialized later, by one test.
    writeFlightsSample(env.dataRoot, { origins: ORIGINS, startMs: JAN_1, endMs: JAN_18 });
    await applyDefinitions(env.database.db, { entities: [airport, route], views: VIEWS });
    await env.materialize({ view: 'airport_departures', startMs: JAN_1, endMs: JAN_11 });
    await env.materialize({ view: 'route_delays', startMs: JAN_1, endMs: JAN_11 });
    await env.materialize({ view: 'airport_info' });
  });

  after(async () => {
    for (const close of closers) await close();
    await env?.close();
  });

  test('the cache: a read begun before an invalidation stores nothing; bounded, least recently used out', () => {
    const cache = new OnlineRowCache(2);
    const view = new CachedView('v@v1');
    const row = { eventTs: 1, values: [1] };
    cache.set(view, 'a', row, cache.stamp());
    assert.equal(cache.get(view, 'a'), undefined, 'disabled until the listener is up');
    cache.enable();
    const begun = cache.stamp();
    cache.invalidate(view);
    cache.set(view, 'a', row, begun);
    assert.equal(cache.get(view, 'a'), undefined, 'pre-invalidation read not stored');
    cache.set(view, 'a', row, cache.stamp());
    assert.equal(cache.get(view, 'a'), row);
    cache.invalidate(view);
    assert.equal(cache.get(view, 'a'), undefined, 'invalidated');
    for (const key of ['a', 'b']) cache.set(view, key, row, cache.stamp());
    cache.get(view, 'a');
    cache.set(view, 'c', row, cache.stamp());
    assert.equal(cache.size, 2);
    assert.equal(cache.get(view, 'b'), undefined, 'least recently used evicted');
    assert.equal(cache.get(view, 'a'), row);
    const disabledDuring = cache.stamp();
    cache.disable();
    cache.enable();
    cache.set(view, 'd', row, disabledDuring);
    assert.equal(cache.get(view, 'a'), undefined, 'cleared on disable');
    assert.equal(cache.get(view, 'd'), undefined, 'a read begun before a reconnect stores nothing');
  });

  test('online values equal the latest offline values at materialization time, for every entity', async () => {
    const seen: Record<string, Record<string, number>> = {};
    for (const nowMs of [JAN_11, JAN_11 + DAY]) {
      const server = serve(nowMs);
      for (const view of VIEWS)
        seen[`${view.name} at ${new Date(nowMs).toISOString()}`] = await assertOnlineMatchesOffline(
          server,
          view,
          nowMs,
        );
    }
    console.error(`online = offline, statuses: ${JSON.stringify(seen)}`);
    assert.ok(seen['route_delays at 2001-01-11T00:00:00.000Z'].present > 0);
    assert.ok(seen['route_delays at 2001-01-12T00:00:00.000Z'].expired > 0);

    // From a warm cache: the same answers, the TTL still applied per request.
    const server = serve(JAN_11);
    const routes = VIEWS[1];
    await waitFor('the cache listener', async () => {
      await assertOnlineMatchesOffline(server, routes, JAN_11);
      return (await lookups(server.metrics)).hit > 0;
    });
    for (const view of VIEWS) await assertOnlineMatchesOffline(server, view, JAN_11);
    const cold = await lookups(server.metrics);
    for (const view of VIEWS) await assertOnlineMatchesOffline(server, view, JAN_11);
    const warm = await lookups(server.metrics);
    assert.equal(warm.miss, cold.miss, 'all cache hits');
    assert.ok(warm.hit > cold.hit);
  });

  test('expired, missing and null keys; pinned versions; a feature service; bad input is BAD_REQUEST', async () => {
    const server = serve(JAN_11 + 2 * HOUR);
    const refs = ['airport_departures:departures_1h', 'route_delays@v1:flights_7d', 'airport_info:state'];
    const answer = await server.get(refs, [
      { airport: 'SFO', route: ['SFO', 'LAX'] },
      { airport: 'ZZZ', route: ['SFO', 'ZZZ'] },
      { airport: null, route: null },
    ]);
    const [sfo, unknown, nulls] = answer.results as Result[];
    assert.equal(sfo.views.airport_departures.status, 'expired', 'older than the 1h TTL two hours later');
    assert.ok(sfo.views.airport_departures.eventTs, 'an expired row still tells its event time');
    assert.equal(sfo.values.airport_departures__departures_1h, null);
    assert.equal(sfo.views.route_delays.status, 'expired', 'its last daily row is 26h old');
    assert.equal(sfo.values.route_delays__flights_7d, null);
    assert.deepEqual(sfo.views.airport_info, {
      version: 1,
      status: 'present',
      eventTs: '1970-01-01T00:00:00.000Z',
    });
    assert.equal(sfo.values.airport_info__state, 'CA');
    for (const row of [unknown, nulls]) {
      assert.deepEqual(Object.values(row.values), [null, null, null]);
      for (const view of Object.values(row.views))
        assert.deepEqual([view.status, view.eventTs], ['missing', null]);
    }

    const dir = env.dataRoot;
    writeFileSync(path.join(dir, 'model.onnx'), 'not a model: never loaded by features.get');
    await env.database.db.insert(trainingSets).values({
      id: 'ts_features',
      path: '/dev/null',
      spineSha256: '0',
      rowCount: 0,
      contentHash: '0',
      manifest: {},
    });
    const pinned = ['airport_departures@v1:mean_delay_24h', 'distance', 'route_delays@v1:mean_delay_7d'];
    const { version } = await registerModelVersion(env.database.db, {
      name: 'delays',
      artifactPath: path.join(dir, 'model.onnx'),
      trainer: 'builtin:mlp',
      params: {},
      trainingSetId: 'ts_features',
      features: pinned,
      metrics: {},
    });
    await setAlias(env.database.db, { model: 'delays', alias: 'champion', version, actor: 't', reason: 't' });
    const service = await server.caller.features.get({
      featureService: 'delays',
      entities: [{ airport: 'SFO', route: ['SFO', 'LAX'] }],
    });
    assert.deepEqual(service.features, ['airport_departures__mean_delay_24h', 'route_delays__mean_delay_7d']);

    const one = [{ airport: 'SFO', route: ['SFO', 'LAX'] }];
    await assertBadRequest(server.get(['no_such_view:x'], one), /unknown feature view "no_such_view"/);
    await assertBadRequest(
      server.get(['airport_info@v9:state'], one),
      /unknown feature view "airport_info@v9"/,
    );
    await assertBadRequest(
      server.get(['airport_info:nope'], one),
      /unknown feature "nope" in airport_info@v1; available: state/,
    );
    await assertBadRequest(
      server.get(['airport_info:state', 'airport_info@v1:state'], one),
      /requested twice/,
    );
    await assertBadRequest(server.get(['not a ref'], one), /invalid feature reference/);
    await assertBadRequest(
      server.get(['route_delays:flights_7d'], [{ airport: 'SFO' }]),
      /row 0 has no key for entity "route" of route_delays@v1/,
    );
    await assertBadRequest(
      server.get(['route_delays:flights_7d'], [{ route: ['SFO', 'LAX', 'X'] }]),
      /has 2 part\(s\), got 3/,
    );
    await assertBadRequest(
      server.caller.features.get({ featureService: 'nobody', entities: one }),
      /unknown feature service "nobody"/,
    );
    await assertBadRequest(
      server.caller.features.get({ features: refs, featureService: 'delays', entities: one }),
      /exactly one of/,
    );
    await assertBadRequest(
      server.get(
        refs,
        Array.from({ length: 5001 }, () => one[0]),
      ),
      /at most 5000/,
    );
  });

  test('a committed materialization is served by a running server with a warm cache within the bound', async () => {
    const server = serve(JAN_11);
    const sfo = [{ airport: 'SFO' }];
    const refs = ['airport_departures:departures_24h'];
    const eventTs = async () =>
      ((await server.get(refs, sfo)).results[0] as Result).views.airport_departures.eventTs;
    const stale = await eventTs();
    const warm = async () => (await eventTs(), (await lookups(server.metrics)).hit > 0);
    await waitFor('the cache listener (hits)', warm);

    const observer = new pg.Client({ ...env.database.pool.options });
    await observer.connect();
    let committedAt: number | undefined;
    observer.on('notification', (message) => {
      if (JSON.parse(message.payload ?? '{}').view === 'airport_departures')
        committedAt ??= performance.now();
    });
    await observer.query(`LISTEN ${MATERIALIZATION_CHANNEL}`);
    try {
      const materialized = env.materialize({ view: 'airport_departures', startMs: JAN_11, endMs: JAN_18 });
      let staleAfterCommit = 0;
      let visibleAt: number | undefined;
      while (visibleAt === undefined) {
        const seenBefore = committedAt;
        const current = await eventTs();
        if (current !== stale) visibleAt = performance.now();
        else if (seenBefore !== undefined) staleAfterCommit++;
        else await sleep(1);
      }
      await materialized;
      assert.ok(committedAt !== undefined, 'the commit was notified');
      const delayMs = visibleAt - committedAt;
      console.error(
        `invalidation: new values served ${delayMs.toFixed(1)} ms after the commit notification (${staleAfterCommit} stale answers after it)`,
      );
      assert.ok(delayMs < 1000, `visible ${delayMs} ms after commit`);
    } finally {
      await observer.end();
    }
    await assertOnlineMatchesOffline(server, VIEWS[0], JAN_18);
  });

  test('listener loss: the cache is cleared and bypassed, then listening resumes and invalidates again', async () => {
    const server = serve(JAN_11);
    const refs = ['airport_info:latitude'];
    const sjc = [{ airport: 'SJC' }];
    const latitude = async () =>
      ((await server.get(refs, sjc)).results[0] as Result).values.airport_info__latitude as number;
    const initial = await latitude();
    await waitFor('cache hits', async () => (await latitude(), (await lookups(server.metrics)).hit > 0));
    const { pool } = env.database;
    const table = onlineTable((await getViewVersion(env.database.db, 'airport_info')).tables.online);
    // Changed behind the cache's back (no NOTIFY): only a cleared or bypassed cache can show it.
    const bump = (db: pg.Pool | pg.PoolClient) =>
      db.query(`UPDATE ${table} SET latitude = latitude + 1 WHERE entity_key = 'SJC'`);

    const { rowCount } = await pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'kaizen-feature-cache'`,
    );
    assert.ok((rowCount ?? 0) > 0, 'listeners found');
    await waitFor('the listener loss', () => server.lines.some((l) => l.includes('lost')));
    await bump(pool);
    assert.equal(await latitude(), initial + 1, 'cleared when the listener is lost');
    // The first reconnection is 100 ms away: these reads are served while nobody listens.
    await bump(pool);
    assert.equal(await latitude(), initial + 2, 'nothing cached while not listening');

    await waitFor('the listener back', () =>
      server.lines.some((l) => l.includes('listening on') && l.includes('again')),
    );
    const hitsBefore = (await lookups(server.metrics)).hit;
    await waitFor(
      'cache hits again',
      async () => (await latitude(), (await lookups(server.metrics)).hit > hitsBefore),
    );
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await bump(client);
      await client.query('SELECT pg_notify($1, $2)', [
        MATERIALIZATION_CHANNEL,
        JSON.stringify({ view: 'airport_info', version: 1, chunkId: 'manual' }),
      ]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await waitFor('the notified change', async () => (await latitude()) === initial + 3, 1000);
  });
});
