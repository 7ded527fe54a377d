import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import { departureTime, flightsDefinitions } from '../examples/flights/features.js';
import { defineEntity } from '../feature-store/entity.js';
import { defineFeatureView } from '../feature-store/feature-view.js';
import { getHistoricalFeatures } from '../feature-store/historical.js';
import { findOnDemandVersion } from '../feature-store/on-demand-registry.js';
import {
  computeOnDemand,
  defineOnDemandView,
  requestColumns,
  type OnDemandViewDefinition,
} from '../feature-store/on-demand-view.js';
import { applyDefinitions } from '../feature-store/registry.js';
import type { TrainingSetRequest } from '../feature-store/training-set.js';
import { runTrainingSetBuild } from '../runtime/training-set-runner.js';
import { FLIGHTS_SAMPLE_SOURCE, writeFlightsSample, type FlightsSample } from './support/flights-sample.js';
import { startIntegration, type Integration } from './support/integration.js';
import { assertWorkflowFails } from './support/temporal.js';

const THIS_MODULE = fileURLToPath(import.meta.url);
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

/** Reads an already-fetched feature: busy when more than 20 departures in the last hour. */
export const busyHour = defineOnDemandView({
  name: 'od_busy',
  request: {},
  featureInputs: ['od_departures__departures_1h'],
  features: { busy: 'bool' },
  compute: ({ rows, features }) => {
    const departures = features.od_departures__departures_1h;
    const busy = new Uint8Array(rows);
    for (let i = 0; i < rows; i++)
      busy[i] = departures.valid[i] && (departures.values as Float64Array)[i] > 20 ? 1 : 0;
    return { busy: { type: 'bool', values: busy, valid: departures.valid.slice() } };
  },
});

describe('on-demand features', () => {
  let env: Integration;
  let sample: FlightsSample;
  const request = (out: string, features: TrainingSetRequest['features']): TrainingSetRequest => ({
    spine: {
      path: 'flights-sample.arrow',
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
      module: flightsDefinitions.module,
    });
    await applyDefinitions(env.database.db, {
      entities: [],
      views: [],
      onDemandViews: [busyHour],
      module: THIS_MODULE,
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
    const lookup = await getHistoricalFeatures(
      { db: env.database.db, pool: env.database.pool },
      {
        entities: { airport: sample.origin.slice(0, rows) },
        asOf,
        request: { departure: asOf },
        features: [
          { view: 'od_departures', feature: 'departures_1h' },
          { view: 'od_busy', feature: 'busy' },
          { view: 'departure_time', version: 1, feature: 'hour_of_day' },
        ],
      },
    );
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

  test('versions follow the code; code that differs from the pinned version is refused', async () => {
    const changed: OnDemandViewDefinition = {
      ...departureTime,
      compute: (input) => {
        const out = departureTime.compute(input);
        return out;
      },
    };
    const [result] = await applyDefinitions(env.database.db, {
      entities: [],
      views: [],
      onDemandViews: [changed],
      module: flightsDefinitions.module,
    });
    assert.equal(result.status, 'new-version');
    assert.equal(result.version, 2);
    assert.ok(
      result.diff.some((line) => line.startsWith('source:')),
      result.diff.join('\n'),
    );
    // v2 is registered but the module still exports v1's code: running v2 must fail, v1 still works.
    await assert.rejects(
      findOnDemandVersion(env.database.db, 'departure_time', 2),
      /departure_time@v2: the code in .*features\.ts differs from the registered version/,
    );
    assert.equal((await findOnDemandVersion(env.database.db, 'departure_time', 1))!.version, 1);
    const [again] = await applyDefinitions(env.database.db, {
      entities: [],
      views: [],
      onDemandViews: [departureTime],
      module: flightsDefinitions.module,
    });
    assert.equal(again.status, 'new-version', 'going back to old code is a change too: v3');
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
        onDemandViews: [{ ...busyHour, name: 'od_departures' }],
        module: THIS_MODULE,
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
