import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import { departureTime, flightsDefinitions } from '../examples/flights/features.js';
import { defineEntity } from '../feature-store/definitions/entity.js';
import { defineFeatureView } from '../feature-store/definitions/feature-view.js';
import { findOnDemandVersion } from '../feature-store/registry/on-demand.js';
import type { OnDemandViewDefinition } from '../feature-store/definitions/on-demand-view.js';
import { computeOnDemand, requestColumns } from '../feature-store/on-demand/compute.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import type { TrainingSetRequest } from '../feature-store/point-in-time/training-set.js';
import { runTrainingSetBuild } from '../runtime/training-set-runner.js';
import { FLIGHTS_SAMPLE_SOURCE, writeFlightsSample, type FlightsSample } from './support/flights-sample.js';
import { startIntegration, type Integration } from './support/integration.js';
import { assertWorkflowFails } from './support/temporal.js';
import { busyHour, clashingView } from './fixtures/on-demand-views.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'on-demand-views.ts');
const airport = defineEntity({ name: 'airport', joinKey: 'airport' });
const departures = defineFeatureView({
  name: 'od_departures',
  entities: [airport],
  entityColumns: { airport: 'origin' },
  source: FLIGHTS_SAMPLE_SOURCE,
  ttl: '2h',
  transform: {
    kind: 'window',
    hop: '1h',
    windows: ['1h'],
    aggregations: [{ name: 'departures', fn: 'count' }],
  },
});

describe('on-demand features', () => {
  let env: Integration;
  let sample: FlightsSample;
  const request = (out: string, features: TrainingSetRequest['features']): TrainingSetRequest => ({
    spine: {
      path: path.join(env.dataRoot, 'flights-sample.arrow'),
      entities: [{ entity: 'airport', columns: ['origin'] }],
      tsColumn: 'date',
      request: { departure: 'date' },
    },
    features,
    out: path.join(env.dataRoot, out),
  });
  const build = (req: TrainingSetRequest) =>
    runTrainingSetBuild({ temporal: env.worker.client, taskQueue: env.worker.taskQueue }, req);

  before(async () => {
    env = await startIntegration();
    sample = writeFlightsSample(env.dataRoot, {
      origins: ['SFO', 'OAK'],
      startMs: Date.UTC(2001, 0, 1),
      endMs: Date.UTC(2001, 0, 8),
    });
    await applyDefinitions(env.database.db, {
      entities: [airport],
      views: [departures],
      onDemandViews: [departureTime],
      module: flightsDefinitions().module,
    });
    await applyDefinitions(env.database.db, {
      entities: [],
      views: [],
      onDemandViews: [busyHour],
      module: FIXTURES,
    });
    await env.materialize({ view: 'od_departures' });
  });

  after(() => env?.close());

  test('a training set computes them per spine row with the registered code', async () => {
    const { manifest } = await build(
      request('od.arrow', [
        { view: 'od_departures', feature: 'departures_1h' },
        { view: 'departure_time', feature: 'hour_of_day' },
        { view: 'departure_time', feature: 'day_of_week' },
        { view: 'od_busy', feature: 'busy' },
      ]),
    );
    assert.deepEqual(
      manifest.views.map((v) => `${v.name}@v${v.version}${v.onDemand ? ' (on demand)' : ''}`),
      ['od_departures@v1', 'departure_time@v1 (on demand)', 'od_busy@v1 (on demand)'],
    );
    const table = tableFromIPC(readFileSync(manifest.path));
    const hour = table.getChild('departure_time__hour_of_day')!;
    const day = table.getChild('departure_time__day_of_week')!;
    const count = table.getChild('od_departures__departures_1h')!;
    const busy = table.getChild('od_busy__busy')!;
    let busyRows = 0;
    for (let i = 0; i < sample.length; i++) {
      const date = new Date(sample.date[i]);
      assert.equal(Number(hour.get(i)), date.getUTCHours(), `hour of row ${i}`);
      assert.equal(Number(day.get(i)), date.getUTCDay(), `day of row ${i}`);
      const departures1h = count.get(i) as number | null;
      assert.equal(busy.get(i), departures1h === null ? null : departures1h > 20, `busy of row ${i}`);
      if (busy.get(i)) busyRows++;
    }
    assert.ok(busyRows > 0, 'the sample has busy hours at SFO');
  });

  test('serving rows computed by the same code give the training values', async () => {
    const rows = sample.date
      .slice(0, 500)
      .map((ms, i) => ({ departure: i % 2 ? ms : new Date(ms).toISOString() }));
    const view = (await findOnDemandVersion(env.database.db, 'departure_time', 1))!;
    const valueOf = (field: string, i: number) => rows[i][field as 'departure'];
    const served = computeOnDemand(view.definition, {
      rows: rows.length,
      request: requestColumns(view.definition, rows.length, valueOf),
      features: {},
    });
    for (let i = 0; i < rows.length; i++) {
      assert.equal(served.hour_of_day.values[i], new Date(sample.date[i]).getUTCHours());
      assert.equal(served.day_of_week.values[i], new Date(sample.date[i]).getUTCDay());
    }
    assert.throws(
      () => requestColumns(view.definition, 1, () => 'yesterday'),
      /invalid request field "departure" of row 0 \(for on-demand view departure_time\): expected an ISO timestamp/,
    );
    // A time without an offset is UTC, as in spines and sources, whatever the server's zone.
    const zone = process.env.TZ;
    process.env.TZ = 'America/Chicago';
    try {
      const naive = requestColumns(view.definition, 1, () => '2001-06-30T17:00:00');
      assert.equal(naive.departure.values[0], Date.UTC(2001, 5, 30, 17));
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
    const missing = requestColumns(view.definition, 1, () => null);
    assert.equal(missing.departure.valid[0], 0, 'a null request field is missing, not zero');
  });

  test('historical lookups compute them from request fields, beside stored features', async () => {
    const rows = 200;
    const asOf = sample.date.slice(0, rows);
    const lookup = await env.store.getHistoricalFeatures({
      entities: { airport: sample.origin.slice(0, rows) },
      asOf,
      request: { departure: asOf },
      features: [
        { view: 'od_departures', feature: 'departures_1h' },
        { view: 'od_busy', feature: 'busy' },
        { view: 'departure_time', version: 1, feature: 'hour_of_day' },
      ],
    });
    assert.deepEqual(
      lookup.views.map((v) => v.name),
      ['od_departures', 'od_busy', 'departure_time'],
    );
    const departures = lookup.columns.od_departures__departures_1h;
    for (let i = 0; i < rows; i++) {
      assert.equal(lookup.columns.departure_time__hour_of_day.values[i], new Date(asOf[i]).getUTCHours());
      const expected = departures.valid[i] && (departures.values as Float64Array)[i] > 20 ? 1 : 0;
      assert.equal(lookup.columns.od_busy__busy.values[i], expected);
    }
  });

  test('versions follow the code: comments and other definitions do not count, helpers do; pinned code keeps running', async () => {
    // A definitions module of its own, edited between applies (each `kaizen apply` is a fresh process;
    // here the bundle is read from disk, so edits count even though this process imported the file once).
    const dir = mkdtempSync(path.join(env.dataRoot, 'defs-'));
    const module = path.join(dir, 'views.ts');
    const library = JSON.stringify(pathToFileURL(path.join(REPO, 'feature-store', 'index.ts')).href);
    const helper = (offset: number) =>
      `export const hourOf = (ms: number) => (Math.floor(ms / 3_600_000) + ${offset}) % 24;\n`;
    const views = (comment: string, ttl: string) =>
      [
        `import { defineEntity, defineFeatureView, defineOnDemandView } from ${library};`,
        `import { hourOf } from './helpers.js';`,
        `export const station = defineEntity({ name: 'od_station', joinKey: 'station' });`,
        `export const other = defineFeatureView({ name: 'od_other', entities: [station], ttl: '${ttl}',`,
        `  source: { kind: 'csv', path: 'other.csv' }, features: { x: 'float64' } });`,
        `// ${comment}`,
        `export const shifted = defineOnDemandView({`,
        `  name: 'od_shifted', request: { at: 'timestamp' }, features: { hour: 'int64' },`,
        `  compute: ({ rows, request }) => {`,
        `    const hour = new Float64Array(rows);`,
        `    for (let i = 0; i < rows; i++) hour[i] = hourOf((request.at.values as Float64Array)[i]); /* ${comment} */`,
        `    return { hour: { type: 'int64', values: hour, valid: request.at.valid.slice() } };`,
        `  },`,
        `});`,
      ].join('\n');
    writeFileSync(path.join(dir, 'helpers.ts'), helper(0));
    writeFileSync(module, views('first', '1h'));
    const { shifted } = (await import(pathToFileURL(module).href)) as { shifted: OnDemandViewDefinition };
    const apply = async () =>
      (
        await applyDefinitions(env.database.db, { entities: [], views: [], onDemandViews: [shifted], module })
      )[0];

    const first = await apply();
    assert.deepEqual([first.status, first.version], ['created', 1]);
    writeFileSync(module, views('reworded comments, and another view changed', '2h'));
    assert.equal(
      (await apply()).status,
      'unchanged',
      'comments and other definitions of the file are not its code',
    );

    writeFileSync(path.join(dir, 'helpers.ts'), helper(1));
    const second = await apply();
    assert.deepEqual([second.status, second.version], ['new-version', 2], 'a helper it calls is its code');
    assert.ok(
      second.diff.some((line) => line.startsWith('code:')),
      second.diff.join('\n'),
    );

    // Each version runs its own pinned bundle, even with the module gone: models pinned to v1 stay servable.
    rmSync(dir, { recursive: true, force: true });
    const at = Date.UTC(2001, 0, 1, 5, 30);
    const hourOfVersion = async (version: number) => {
      const lookup = await env.store.getHistoricalFeatures({
        entities: {},
        asOf: [at],
        request: { at: [at] },
        features: [{ view: 'od_shifted', version, feature: 'hour' }],
      });
      return lookup.columns.od_shifted__hour.values[0];
    };
    assert.equal(await hourOfVersion(1), 5);
    assert.equal(await hourOfVersion(2), 6);
    const [v1, v2] = [1, 2].map(
      async (version) => (await findOnDemandVersion(env.database.db, 'od_shifted', version))!,
    );
    assert.notEqual((await v1).fingerprint, (await v2).fingerprint);
  });

  const failure = (req: TrainingSetRequest, pattern: RegExp) => assertWorkflowFails(build(req), pattern);

  test('stored and on-demand views never share a name', async () => {
    await assert.rejects(
      applyDefinitions(env.database.db, {
        entities: [airport],
        views: [{ ...departures, name: 'departure_time' }],
      }),
      /feature view "departure_time": an on-demand view already has that name/,
    );
    await assert.rejects(
      applyDefinitions(env.database.db, {
        entities: [],
        views: [],
        onDemandViews: [clashingView],
        module: FIXTURES,
      }),
      /on-demand view "od_departures": a feature view already has that name/,
    );
  });

  test('bad requests fail clearly', async () => {
    await failure(
      request('bad-input.arrow', [{ view: 'od_busy', feature: 'busy' }]),
      /od_busy@v1 reads od_departures__departures_1h; request it too/,
    );
    const noMapping = request('bad-spine.arrow', [
      { view: 'departure_time', version: 1, feature: 'hour_of_day' },
    ]);
    delete noMapping.spine.request;
    await failure(noMapping, /request field "departure" \(timestamp\) from spine column "departure"/);
    await failure(
      request('bad-feature.arrow', [{ view: 'departure_time', version: 1, feature: 'minute' }]),
      /unknown feature "minute" in on-demand view departure_time@v1/,
    );
    assert.throws(
      () =>
        computeOnDemand(busyHour, {
          rows: 2,
          request: {},
          features: {
            od_departures__departures_1h: {
              type: 'int64',
              values: new Float64Array(3),
              valid: new Uint8Array(3),
            },
          },
        }),
      /on-demand view "od_busy": feature "busy" has 3 validity flags for 2 rows/,
    );
  });
});
