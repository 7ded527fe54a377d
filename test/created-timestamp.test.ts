import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import { defineEntity, defineFeatureView } from '../feature-store/index.js';
import { runTrainingSetBuild } from '../runtime/training-set-runner.js';
import { storeRows } from './support/store-rows.js';
import { startIntegration, type Integration } from './support/integration.js';

const station = defineEntity({ name: 'station', joinKey: 'station' });
const updates = defineFeatureView({
  name: 'created_updates',
  entities: [station],
  source: { kind: 'csv', path: 'updates.csv', timestampField: 'ts', createdTimestampField: 'written' },
  features: { level: 'float64' },
});
const AT = '2001-01-02T10:00:00Z';
// Several rows per (station, event time): the latest `written` wins, then the row ingested last.
const ROWS = [
  `${AT},2001-01-02T12:00:00Z,A,2`,
  `${AT},2001-01-02T11:00:00Z,A,1`, // written earlier, although later in the file
  `${AT},2001-01-02T12:00:00Z,A,3`, // a full tie with the first row: ingested last, so it wins
  `${AT},2001-01-02T11:30:00Z,B,10`,
  `${AT},2001-01-02T11:00:00Z,B,20`,
  `${AT},,C,5`, // no created time: quarantined
];

describe('createdTimestampField: latest event time, then latest created time, then last ingested', () => {
  let env: Integration;

  before(async () => {
    env = await startIntegration();
    writeFileSync(path.join(env.dataRoot, 'updates.csv'), `ts,written,station,level\n${ROWS.join('\n')}\n`);
    await env.store.apply({ entities: [station], views: [updates] });
    const run = await env.materialize({ view: 'created_updates' });
    assert.deepEqual([run.result.rowsWritten, run.result.rowsQuarantined], [5, 1]);
  });

  after(() => env?.close());

  test('offline rows carry the source created time; the online store keeps the winner', async () => {
    const view = await env.store.getView('created_updates');
    const { rows } = await env.database.pool.query(
      `SELECT entity_key, created_ts, level FROM kaizen_offline."${view.tables.offline}" ORDER BY ingest_seq`,
    );
    assert.deepEqual(
      rows.map((r) => `${r.entity_key} ${(r.created_ts as Date).toISOString()} ${r.level}`),
      [
        'A 2001-01-02T12:00:00.000Z 2',
        'A 2001-01-02T11:00:00.000Z 1',
        'A 2001-01-02T12:00:00.000Z 3',
        'B 2001-01-02T11:30:00.000Z 10',
        'B 2001-01-02T11:00:00.000Z 20',
      ],
    );
    const online = await storeRows(env.database.pool, view, 'online');
    assert.deepEqual(
      online.map((r) => `${r.entityKey}=${r.values.level}`),
      ['A=3', 'B=10'],
    );
    const { rows: quarantined } = await env.database.pool.query(
      `SELECT reason FROM kaizen.quarantine WHERE view_name = 'created_updates'`,
    );
    assert.deepEqual(
      quarantined.map((q) => q.reason),
      ['missing created timestamp: column "written" is null or empty'],
    );
  });

  test('point-in-time lookups and training sets pick the same rows', async () => {
    const lookup = await env.store.getHistoricalFeatures({
      entities: { station: ['A', 'B'] },
      asOf: Date.parse('2001-01-02T10:30:00Z'),
      features: [{ view: 'created_updates', feature: 'level' }],
    });
    assert.deepEqual(Array.from(lookup.columns.created_updates__level.values as Float64Array), [3, 10]);

    const spine = path.join(env.dataRoot, 'spine.csv');
    writeFileSync(
      spine,
      'ts,station\n2001-01-02T10:30:00Z,A\n2001-01-02T10:30:00Z,B\n2001-01-02T09:00:00Z,A\n',
    );
    const { manifest } = await runTrainingSetBuild(
      { temporal: env.worker.client, taskQueue: env.worker.taskQueue },
      {
        spine: { path: spine, entities: [{ entity: 'station', columns: ['station'] }], tsColumn: 'ts' },
        features: [{ view: 'created_updates', feature: 'level' }],
        out: path.join(env.dataRoot, 'created.arrow'),
      },
    );
    const level = tableFromIPC(readFileSync(manifest.path)).getChild('created_updates__level')!;
    assert.deepEqual(level.toArray().slice(0, 2), Float64Array.from([3, 10]));
    assert.equal(level.get(2), null, 'never a value from the future');
  });

  test('window views refuse it: every event counts, none replaces another', () => {
    assert.throws(
      () =>
        defineFeatureView({
          ...updates,
          name: 'created_windows',
          features: undefined,
          transform: {
            kind: 'window',
            hop: '1h',
            windows: ['1h'],
            aggregations: [{ name: 'n', fn: 'count' }],
          },
        }),
      /createdTimestampField applies to plain views/,
    );
  });
});
