import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Table, tableFromIPC, tableToIPC, vectorFromArray } from 'apache-arrow';
import { defineEntity } from '../feature-store/definitions/entity.js';
import { defineFeatureView } from '../feature-store/definitions/feature-view.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import { getTrainingSet, type TrainingSetRequest } from '../feature-store/point-in-time/training-set.js';
import { runTrainingSetBuild } from '../runtime/training-set-runner.js';
import { FLIGHTS_SAMPLE_SOURCE, writeFlightsSample, type FlightsSample } from './support/flights-sample.js';
import { startIntegration, type Integration } from './support/integration.js';
import { assertWorkflowFails } from './support/temporal.js';
import { referenceWindows } from './support/reference.js';

const HOUR = 3_600_000;
const JAN_1 = Date.UTC(2001, 0, 1);
const JAN_22 = Date.UTC(2001, 0, 22);
const TTL = 2 * HOUR;

const airport = defineEntity({ name: 'airport', joinKey: 'airport' });
const route = defineEntity({ name: 'route', joinKey: 'route' });
const source = FLIGHTS_SAMPLE_SOURCE;
const departures = defineFeatureView({
  name: 'pit_departures',
  entities: [airport],
  entityColumns: { airport: 'origin' },
  source,
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
const routes = defineFeatureView({
  name: 'pit_routes',
  entities: [route],
  entityColumns: { route: ['origin', 'destination'] },
  source,
  ttl: '1d',
  transform: { kind: 'window', hop: '1d', windows: ['7d'], aggregations: [{ name: 'flights', fn: 'count' }] },
});
const info = defineFeatureView({
  name: 'pit_info',
  entities: [airport],
  entityColumns: { airport: 'iata' },
  source: { kind: 'csv', path: 'airports.csv' },
  features: { state: 'string', latitude: 'float64' },
});
const unmaterialized = defineFeatureView({
  name: 'pit_unmaterialized',
  entities: [airport],
  entityColumns: { airport: 'iata' },
  source: { kind: 'csv', path: 'airports.csv' },
  features: { state: 'string' },
});
const AIRPORTS = 'iata,state,latitude\nSFO,CA,37.6\nOAK,CA,37.7\n'; // SJC deliberately missing

describe('point-in-time training sets (Postgres + Temporal)', () => {
  let env: Integration;
  let sample: FlightsSample;
  const request = (out: string, extra: Partial<TrainingSetRequest> = {}): TrainingSetRequest => ({
    spine: {
      path: path.join(env.dataRoot, 'flights-sample.arrow'),
      entities: [
        { entity: 'airport', columns: ['origin'] },
        { entity: 'route', columns: ['origin', 'destination'] },
      ],
      tsColumn: 'date',
      labelColumn: 'delay',
    },
    features: [
      { view: 'pit_departures', feature: 'departures_1h' },
      { view: 'pit_departures', feature: 'mean_delay_24h' },
      { view: 'pit_routes', version: 1, feature: 'flights_7d' },
      { view: 'pit_info', feature: 'state' },
      { view: 'pit_info', feature: 'latitude' },
    ],
    out: path.join(env.dataRoot, out),
    ...extra,
  });
  const build = (req: TrainingSetRequest) =>
    runTrainingSetBuild({ temporal: env.worker.client, taskQueue: env.worker.taskQueue }, req);

  before(async () => {
    env = await startIntegration({ files: { 'airports.csv': AIRPORTS } });
    sample = writeFlightsSample(env.dataRoot, {
      origins: ['SFO', 'OAK', 'SJC'],
      startMs: JAN_1,
      endMs: JAN_22,
    });
    await applyDefinitions(env.database.db, {
      entities: [airport, route],
      views: [departures, routes, info, unmaterialized],
    });
    for (const view of ['pit_departures', 'pit_routes', 'pit_info']) await env.materialize({ view });
  });

  after(() => env?.close());

  test('one row per spine row in order, spine columns first, features as of each row (reference), never from the future', async () => {
    const { manifest } = await build(request('single.arrow'));
    const table = tableFromIPC(readFileSync(manifest.path));
    assert.equal(table.numRows, sample.length);
    assert.deepEqual(
      table.schema.fields.map((f) => f.name),
      [
        'date',
        'delay',
        'distance',
        'origin',
        'destination',
        'pit_departures__departures_1h',
        'pit_departures__mean_delay_24h',
        'pit_routes__flights_7d',
        'pit_info__state',
        'pit_info__latitude',
      ],
    );
    const reference = referenceWindows(
      { key: sample.origin, ts: sample.date, columns: { delay: sample.delay } },
      {
        hopMs: HOUR,
        windows: [
          { label: '1h', ms: HOUR },
          { label: '24h', ms: 24 * HOUR },
        ],
        aggregations: [
          { name: 'departures', fn: 'count' },
          { name: 'mean_delay', fn: 'mean', column: 'delay' },
        ],
      },
      { startMs: Date.UTC(2000, 11, 28), endMs: Date.UTC(2001, 0, 25) },
    );
    const count = table.getChild('pit_departures__departures_1h')!;
    const meanDelay = table.getChild('pit_departures__mean_delay_24h')!;
    const state = table.getChild('pit_info__state')!;
    for (let i = 0; i < sample.length; i += 7) {
      const ts = sample.date[i];
      assert.equal(Number(table.getChild('date')!.get(i)), ts, 'spine order kept');
      const candidates = reference.filter(
        (r) => r.entityKey === sample.origin[i] && r.eventTs <= ts && r.eventTs >= ts - TTL,
      );
      const expected = candidates.at(-1);
      const got = count.get(i);
      assert.equal(
        got === null ? null : Number(got),
        expected ? expected.values.departures_1h : null,
        `row ${i}`,
      );
      const mean = meanDelay.get(i);
      if (expected?.values.mean_delay_24h == null) assert.equal(mean, null);
      else assert.ok(Math.abs(mean - expected.values.mean_delay_24h) < 1e-9);
      assert.equal(state.get(i), sample.origin[i] === 'SJC' ? null : 'CA', 'static view; SJC has no row');
    }
    assert.equal(manifest.rowCount, sample.length);
    assert.deepEqual(
      manifest.views.map((v) => `${v.name}@v${v.version}`),
      ['pit_departures@v1', 'pit_routes@v1', 'pit_info@v1'],
      'omitted versions are pinned explicitly',
    );
    assert.deepEqual(await getTrainingSet(env.database.db, manifest.id), manifest);
  });

  test('the sharded workflow gives the same bytes as the single-shard run (one activity, no part file)', async () => {
    const single = await build(request('one-shard.arrow', { shards: 1 }));
    const sharded = await build(request('four-shards.arrow', { shards: 4 }));
    assert.equal(sharded.manifest.parts.length, 4);
    assert.deepEqual(single.manifest.parts, [], 'one shard: joined in memory');
    const activities = async (workflowId: string) =>
      (await env.worker.client.workflow.getHandle(workflowId).fetchHistory()).events!.flatMap((e) =>
        e.activityTaskScheduledEventAttributes
          ? [e.activityTaskScheduledEventAttributes.activityType!.name]
          : [],
      );
    assert.deepEqual(await activities(single.workflowId), ['buildTrainingSetInOne']);
    assert.deepEqual(await activities(sharded.workflowId), [
      'planTrainingSet',
      ...Array<string>(4).fill('joinTrainingSetShard'),
      'finalizeTrainingSet',
    ]);
    assert.deepEqual(readFileSync(sharded.manifest.path), readFileSync(single.manifest.path));
    assert.equal(sharded.manifest.contentHash, single.manifest.contentHash);
    // The hash is of the file as written: its bytes, whole and in order.
    assert.equal(
      createHash('sha256').update(readFileSync(single.manifest.path)).digest('hex'),
      single.manifest.contentHash,
    );
  });

  test('time split: train / validation / test by timestamp, nothing lost', async () => {
    const trainEndMs = Date.UTC(2001, 0, 8);
    const validEndMs = Date.UTC(2001, 0, 15);
    const { manifest } = await build(request('split.arrow', { split: { trainEndMs, validEndMs } }));
    const files = manifest.split!.files;
    assert.equal(files.train.rows + files.validation.rows + files.test.rows, sample.length);
    const bounds = {
      train: [-Infinity, trainEndMs],
      validation: [trainEndMs, validEndMs],
      test: [validEndMs, Infinity],
    } as const;
    for (const [name, [lo, hi]] of Object.entries(bounds) as Array<
      [keyof typeof bounds, readonly [number, number]]
    >) {
      const dates = tableFromIPC(readFileSync(files[name].path)).getChild('date')!.toArray() as BigInt64Array;
      assert.equal(dates.length, files[name].rows);
      for (const d of dates)
        assert.ok(Number(d) >= lo && Number(d) < hi, `${name} row at ${new Date(Number(d)).toISOString()}`);
    }
  });

  test('each split file holds exactly its rows of the whole set, spine in time order or not', async () => {
    const trainEndMs = Date.UTC(2001, 0, 8);
    const validEndMs = Date.UTC(2001, 0, 15);
    // The same spine in a scattered order (row i·p mod n, p a prime above n): no split is a run of rows.
    const spine = tableFromIPC(readFileSync(path.join(env.dataRoot, 'flights-sample.arrow')));
    const order = Array.from({ length: spine.numRows }, (_, i) => (i * 1_000_003) % spine.numRows);
    const scattered = new Table(
      Object.fromEntries(
        spine.schema.fields.map((f) => {
          const values = [...spine.getChild(f.name)!];
          return [
            f.name,
            vectorFromArray(
              order.map((i) => values[i]),
              f.type,
            ),
          ];
        }),
      ),
    );
    writeFileSync(path.join(env.dataRoot, 'scattered.arrow'), tableToIPC(scattered, 'file'));
    for (const [out, spinePath, sliced] of [
      ['ordered.arrow', 'flights-sample.arrow', true],
      ['scattered-split.arrow', 'scattered.arrow', false],
    ] as const) {
      const base = request(out, { split: { trainEndMs, validEndMs } });
      const { manifest } = await build({
        ...base,
        spine: { ...base.spine, path: path.join(env.dataRoot, spinePath) },
      });
      const whole = tableFromIPC(readFileSync(manifest.path));
      const dates = whole.getChild('date')!.toArray() as BigInt64Array;
      const bucket = (i: number) =>
        Number(dates[i]) < trainEndMs ? 'train' : Number(dates[i]) < validEndMs ? 'validation' : 'test';
      // Which path each spine takes: a split that is one run of rows is sliced, any other gathered.
      const rowsOf = (name: string) => [...dates.keys()].filter((i) => bucket(i) === name);
      const runs = ['train', 'validation', 'test'].map((name) => {
        const rows = rowsOf(name);
        return rows[rows.length - 1] - rows[0] === rows.length - 1;
      });
      assert.deepEqual(runs, [sliced, sliced, sliced], spinePath);
      for (const [name, file] of Object.entries(manifest.split!.files)) {
        const part = tableFromIPC(readFileSync(file.path));
        const expected = [...whole.toArray().entries()]
          .filter(([i]) => bucket(i) === name)
          .map(([, r]) => r.toJSON());
        assert.ok(expected.length > 0, `${spinePath}: empty ${name}`);
        assert.deepEqual(
          part.toArray().map((r) => r.toJSON()),
          expected,
          `${spinePath}: ${name}`,
        );
      }
    }
  });

  const failure = (req: TrainingSetRequest, pattern: RegExp) => assertWorkflowFails(build(req), pattern);

  test('bad input gives clear errors: unknown feature, unknown view, missing entity key, spine timestamps', async () => {
    await failure(
      { ...request('bad1.arrow'), features: [{ view: 'pit_departures', feature: 'nope' }] },
      /unknown feature "nope" in pit_departures@v1/,
    );
    await failure(
      { ...request('bad2.arrow'), features: [{ view: 'no_such_view', feature: 'x' }] },
      /unknown feature view "no_such_view"/,
    );
    await failure(
      {
        ...request('bad3.arrow'),
        spine: { ...request('x').spine, entities: [{ entity: 'airport', columns: ['origin'] }] },
      },
      /no key for entity "route"/,
    );
    writeFileSync(
      path.join(env.dataRoot, 'bad-ts.csv'),
      'date,origin\n2001-01-05T10:00:00Z,SFO\nnot-a-time,OAK\n',
    );
    await failure(
      {
        ...request('bad4.arrow'),
        spine: {
          path: path.join(env.dataRoot, 'bad-ts.csv'),
          entities: [{ entity: 'airport', columns: ['origin'] }],
          tsColumn: 'date',
        },
        features: [{ view: 'pit_info', feature: 'state' }],
      },
      /1 rows have a missing or unparseable timestamp in column "date" \(first at row 1\)/,
    );
  });

  test('null spine keys get null features and are counted', async () => {
    writeFileSync(
      path.join(env.dataRoot, 'null-keys.csv'),
      'date,origin\n2001-01-05T10:00:00Z,SFO\n2001-01-05T10:00:00Z,\n',
    );
    const { manifest } = await build({
      ...request('null-keys.arrow'),
      spine: {
        path: path.join(env.dataRoot, 'null-keys.csv'),
        entities: [{ entity: 'airport', columns: ['origin'] }],
        tsColumn: 'date',
      },
      features: [{ view: 'pit_info', feature: 'state' }],
    });
    assert.equal(manifest.nullKeyRows, 1);
    const state = tableFromIPC(readFileSync(manifest.path)).getChild('pit_info__state')!;
    assert.deepEqual([state.get(0), state.get(1)], ['CA', null]);
  });

  test('spine timestamps with UTC offsets mean the same instants as in UTC', async () => {
    const instants = ['2001-01-05T10:00:00Z', '2001-01-09T23:30:00Z', '2001-01-12T07:15:00Z'];
    const zoned = ['2001-01-05T02:00:00-08:00', '2001-01-10T05:00:00+05:30', '2001-01-12T16:15:00+09:00'];
    const csv = (times: string[]) =>
      `date,origin\n${times.map((t, i) => `${t},${['SFO', 'OAK', 'SJC'][i]}`).join('\n')}\n`;
    writeFileSync(path.join(env.dataRoot, 'utc.csv'), csv(instants));
    writeFileSync(path.join(env.dataRoot, 'zoned.csv'), csv(zoned));
    const features = (spinePath: string) =>
      build({
        ...request(`${spinePath}.arrow`),
        spine: {
          path: path.join(env.dataRoot, spinePath),
          entities: [{ entity: 'airport', columns: ['origin'] }],
          tsColumn: 'date',
        },
        features: [{ view: 'pit_departures', feature: 'departures_24h' }],
      }).then(({ manifest }) =>
        tableFromIPC(readFileSync(manifest.path)).getChild('pit_departures__departures_24h')!.toJSON(),
      );
    const [utc, zonedValues] = await Promise.all([features('utc.csv'), features('zoned.csv')]);
    assert.ok(
      utc.some((v) => v !== null),
      'the instants have features',
    );
    assert.deepEqual(zonedValues, utc);
  });

  test('historical lookup (time travel) gives the training set values: same semantics', async () => {
    const { manifest } = await build(request('historical.arrow'));
    const table = tableFromIPC(readFileSync(manifest.path));
    const rows = Array.from({ length: 300 }, (_, j) => Math.floor((j * sample.length) / 300));
    const result = await env.store.getHistoricalFeatures({
      entities: {
        airport: rows.map((i) => sample.origin[i]),
        route: rows.map((i) => [sample.origin[i], sample.destination[i]]),
      },
      asOf: rows.map((i) => new Date(sample.date[i])),
      features: request('x').features,
    });
    assert.equal(result.rows, rows.length);
    assert.deepEqual(
      result.views.map((v) => `${v.name}@v${v.version}`),
      ['pit_departures@v1', 'pit_routes@v1', 'pit_info@v1'],
    );
    let nonNull = 0;
    for (const [name, column] of Object.entries(result.columns)) {
      const expected = table.getChild(name)!;
      rows.forEach((i, j) => {
        const want = expected.get(i);
        const got = column.valid[j] ? column.values[j] : null;
        if (got !== null) nonNull++;
        assert.equal(
          got === null || typeof got === 'string' ? got : Number(got),
          want === null || typeof want === 'string' ? want : Number(want),
          `${name} row ${i}`,
        );
      });
    }
    assert.ok(nonNull > rows.length, 'the lookup found features');

    // One time for every row: just after a departure hour, the 1h count is the previous hour's.
    const at = await env.store.getHistoricalFeatures({
      entities: { airport: ['SFO', 'SJC', null, 'NOWHERE'] },
      asOf: Date.UTC(2001, 0, 10, 12),
      features: [{ view: 'pit_departures', feature: 'departures_1h' }],
    });
    const count = at.columns.pit_departures__departures_1h;
    const expected = sample.origin.filter(
      (o, i) =>
        o === 'SFO' &&
        sample.date[i] >= Date.UTC(2001, 0, 10, 11) &&
        sample.date[i] < Date.UTC(2001, 0, 10, 12),
    ).length;
    assert.equal(count.valid[0] ? count.values[0] : null, expected || null);
    assert.deepEqual([count.valid[2], count.valid[3]], [0, 0], 'null and unknown keys give null features');
  });

  test('historical lookup rejects bad input clearly: missing entity, bad time, unmaterialized view', async () => {
    await assert.rejects(
      env.store.getHistoricalFeatures({
        entities: { airport: ['SFO'] },
        asOf: Date.UTC(2001, 0, 10),
        features: [{ view: 'pit_routes', feature: 'flights_7d' }],
      }),
      /no key for entity "route" of pit_routes@v1 \(pass entities.route\)/,
    );
    await assert.rejects(
      env.store.getHistoricalFeatures({
        entities: { airport: ['SFO', 'OAK'] },
        asOf: [Date.UTC(2001, 0, 10), Number.NaN],
        features: [{ view: 'pit_info', feature: 'state' }],
      }),
      /asOf of row 1 is not a valid time/,
    );
    await assert.rejects(
      env.store.getHistoricalFeatures({
        entities: { airport: ['SFO'] },
        asOf: Date.UTC(2001, 0, 10),
        features: [{ view: 'pit_unmaterialized', feature: 'state' }],
      }),
      /pit_unmaterialized@v1 has no materialized data; run kaizen materialize pit_unmaterialized/,
    );
    await failure(
      { ...request('bad5.arrow'), features: [{ view: 'pit_unmaterialized', feature: 'state' }] },
      /pit_unmaterialized@v1 has no materialized data/,
    );
  });
});
