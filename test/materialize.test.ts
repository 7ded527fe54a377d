import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Database } from '../db/client.js';
import { defineEntity } from '../feature-store/definitions/entity.js';
import { defineFeatureView } from '../feature-store/definitions/feature-view.js';
import { materializeChunk } from '../feature-store/materialization/chunk.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import { getViewVersion } from '../feature-store/registry/views.js';
import { FLIGHTS_SAMPLE_SOURCE, writeFlightsSample, type FlightsSample } from './support/flights-sample.js';
import { referenceWindows, type ReferenceAggregation } from './support/reference.js';
import { assertRowsEqual, latestPerEntity, storeRows, tableChecksum } from './support/store-rows.js';
import { startIntegration, type Integration } from './support/integration.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const JAN_1 = Date.UTC(2001, 0, 1);
const JAN_22 = Date.UTC(2001, 0, 22);
// The weekly chunk grid is epoch-aligned (Thursdays): [Jan 1, Jan 22) covers 4 chunks, Dec 28 .. Jan 25.
const GRID = { startMs: Date.UTC(2000, 11, 28), endMs: Date.UTC(2001, 0, 25) };

const airport = defineEntity({ name: 'airport', joinKey: 'airport' });
const route = defineEntity({ name: 'route', joinKey: 'route' });
const source = FLIGHTS_SAMPLE_SOURCE;
const departureAggs: ReferenceAggregation[] = [
  { name: 'departures', fn: 'count' },
  { name: 'mean_delay', fn: 'mean', column: 'delay' },
  { name: 'frac_delayed', fn: 'mean', column: 'delay', compare: { op: '>', value: 15 } },
  { name: 'min_delay', fn: 'min', column: 'delay' },
  { name: 'max_delay', fn: 'max', column: 'delay' },
  { name: 'total_distance', fn: 'sum', column: 'distance' },
  { name: 'last_distance', fn: 'last', column: 'distance' },
];
const departures = defineFeatureView({
  name: 'test_departures',
  entities: [airport],
  entityColumns: { airport: 'origin' },
  source,
  ttl: '2h',
  transform: { kind: 'window', hop: '1h', windows: ['1h', '24h'], aggregations: departureAggs },
});
const routes = defineFeatureView({
  name: 'test_routes',
  entities: [route],
  entityColumns: { route: ['origin', 'destination'] },
  source,
  transform: {
    kind: 'window',
    hop: '1d',
    windows: ['7d'],
    aggregations: [
      { name: 'flights', fn: 'count' },
      { name: 'mean_delay', fn: 'mean', column: 'delay' },
    ],
  },
});
const flights = defineFeatureView({
  name: 'test_flights',
  entities: [airport],
  entityColumns: { airport: 'origin' },
  source,
  features: { delay: 'float64', distance: 'float64', destination: 'string' },
});

describe('materialization workflow on real flights (Postgres + Temporal)', () => {
  let env: Integration;
  let database: Database;
  let dataRoot: string;
  let sample: FlightsSample;
  const injected: string[] = [];

  before(async () => {
    env = await startIntegration({
      activities: {
        // Fail the second chunk of each view once, after its rows were COPYed but before commit.
        beforeChunkCommit: (chunkId) => {
          if (chunkId.includes(':2001-01-04T') && !injected.includes(chunkId)) {
            injected.push(chunkId);
            throw new Error(`injected fault before commit of ${chunkId}`);
          }
        },
      },
    });
    ({ database, dataRoot } = env);
    sample = writeFlightsSample(dataRoot, { origins: ['SFO', 'OAK', 'SJC'], startMs: JAN_1, endMs: JAN_22 });
    await applyDefinitions(database.db, { entities: [airport, route], views: [departures, routes, flights] });
  });

  after(() => env?.close());

  const run = (view: string) => env.materialize({ view, startMs: JAN_1, endMs: JAN_22, maxConcurrency: 2 });

  test('window features equal a brute-force reference, offline and online, despite an injected fault', async () => {
    const { workflowId, result } = await run('test_departures');
    assert.equal(
      workflowId,
      `materialize:test_departures@v1:${new Date(GRID.startMs).toISOString()}:${new Date(GRID.endMs).toISOString()}`,
    );
    assert.ok(
      injected.some((id) => id.startsWith('test_departures@v1:2001-01-04')),
      'the fault was injected',
    );
    const expected = referenceWindows(
      { key: sample.origin, ts: sample.date, columns: { delay: sample.delay, distance: sample.distance } },
      {
        hopMs: HOUR,
        windows: [
          { label: '1h', ms: HOUR },
          { label: '24h', ms: DAY },
        ],
        aggregations: departureAggs,
      },
      GRID,
    );
    assert.ok(expected.length > 1000, `a meaningful sample (${expected.length} rows)`);
    assert.equal(result.chunks, 4);
    assert.equal(result.rowsWritten, expected.length);
    assert.equal(result.rowsQuarantined, 0);
    const view = await getViewVersion(database.db, 'test_departures');
    assertRowsEqual(await storeRows(database.pool, view, 'offline'), expected, 'offline');
    assertRowsEqual(await storeRows(database.pool, view, 'online'), latestPerEntity(expected), 'online');
  });

  test('route features keyed by origin-destination equal the reference', async () => {
    const { result } = await run('test_routes');
    const expected = referenceWindows(
      {
        key: sample.origin.map((o, i) => `${o}-${sample.destination[i]}`),
        ts: sample.date,
        columns: { delay: sample.delay },
      },
      {
        hopMs: DAY,
        windows: [{ label: '7d', ms: 7 * DAY }],
        aggregations: [
          { name: 'flights', fn: 'count' },
          { name: 'mean_delay', fn: 'mean', column: 'delay' },
        ],
      },
      GRID,
    );
    assert.equal(result.rowsWritten, expected.length);
    const view = await getViewVersion(database.db, 'test_routes');
    assertRowsEqual(await storeRows(database.pool, view, 'offline'), expected, 'offline');
    assertRowsEqual(await storeRows(database.pool, view, 'online'), latestPerEntity(expected), 'online');
  });

  test('plain view: every source row lands exactly once; online holds the newest row per airport', async () => {
    const { result } = await run('test_flights');
    assert.equal(result.rowsWritten, sample.length);
    const view = await getViewVersion(database.db, 'test_flights');
    const offline = await storeRows(database.pool, view, 'offline');
    assert.equal(offline.length, sample.length);
    const delaySum = offline.reduce((s, r) => s + (r.values.delay ?? 0), 0);
    assert.equal(
      delaySum,
      sample.delay.reduce((a, b) => a + b, 0),
      'delay checksum',
    );
    const online = await storeRows(database.pool, view, 'online');
    assert.deepEqual(
      online.map((r) => r.entityKey),
      ['OAK', 'SFO', 'SJC'],
    );
    for (const row of online) {
      const last = Math.max(...sample.date.filter((_, i) => sample.origin[i] === row.entityKey));
      assert.equal(row.eventTs, last, `online event_ts of ${row.entityKey}`);
    }
  });

  test('re-running the same materialization and replaying a chunk change nothing', async () => {
    const view = await getViewVersion(database.db, 'test_departures');
    const before = [
      await tableChecksum(database.pool, 'kaizen_offline', view.tables.offline),
      await tableChecksum(database.pool, 'kaizen_online', view.tables.online),
    ];
    const { result } = await run('test_departures');
    assert.equal(result.chunksSkipped, 4);
    assert.equal(result.rowsWritten, 0);
    const replay = await materializeChunk({ pool: database.pool, dataRoot }, view, {
      startMs: GRID.startMs,
      endMs: GRID.startMs + 7 * DAY,
    });
    assert.equal(replay.alreadyCommitted, true);
    const after = [
      await tableChecksum(database.pool, 'kaizen_offline', view.tables.offline),
      await tableChecksum(database.pool, 'kaizen_online', view.tables.online),
    ];
    assert.deepEqual(after, before);
    const { rows } = await database.pool.query(
      `SELECT count(*) AS n, count(DISTINCT (entity_key, event_ts)) AS d FROM kaizen_offline."test_departures__v1"`,
    );
    assert.equal(rows[0].n, rows[0].d, 'no duplicate (entity, event_ts) rows');
  });

  test('two concurrent attempts of one chunk commit it once', async () => {
    await applyDefinitions(database.db, {
      entities: [airport],
      views: [{ ...flights, name: 'test_flights_race' }],
    });
    const view = await getViewVersion(database.db, 'test_flights_race');
    const range = { startMs: Date.UTC(2001, 0, 4), endMs: Date.UTC(2001, 0, 11) };
    const attempts = await Promise.all([
      materializeChunk({ pool: database.pool, dataRoot }, view, range),
      materializeChunk({ pool: database.pool, dataRoot }, view, range),
    ]);
    assert.deepEqual(attempts.map((a) => a.alreadyCommitted).sort(), [false, true]);
    const expected = sample.date.filter((ts) => ts >= range.startMs && ts < range.endMs).length;
    const { rows } = await database.pool.query(
      `SELECT count(*) AS n FROM kaizen_offline."test_flights_race__v1"`,
    );
    assert.equal(rows[0].n, expected);
  });
});
