import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatViewStatus, statusCommand } from '../cli/commands/status.js';
import { loadConfig } from '../config.js';
import { defineEntity, defineFeatureView } from '../feature-store/index.js';
import { chunkId, ConcurrentChunkError } from '../feature-store/materialization/chunk.js';
import { storeRows } from './support/store-rows.js';
import { startIntegration, type Integration } from './support/integration.js';

const JAN_1 = Date.UTC(2001, 0, 1);
const JAN_8 = Date.UTC(2001, 0, 8);
const station = defineEntity({ name: 'station', joinKey: 'station' });
const readings = defineFeatureView({
  name: 'stale_readings',
  entities: [station],
  source: { kind: 'csv', path: 'readings.csv', timestampField: 'ts' },
  features: { level: 'float64' },
});
const hourly = defineFeatureView({
  name: 'stale_hourly',
  entities: [station],
  ttl: '1h',
  source: { kind: 'csv', path: 'readings.csv', timestampField: 'ts' },
  transform: {
    kind: 'window',
    hop: '1h',
    windows: ['1h'],
    aggregations: [{ name: 'readings', fn: 'count' }],
  },
});
const HEADER = 'ts,station,level\n';
const FIRST = ['2001-01-02T10:15:00Z,A,1', '2001-01-02T11:15:00Z,B,2', '2001-01-03T09:00:00Z,A,3'];

describe('changed sources: stale chunks are re-materialized as new revisions, exactly once', () => {
  let env: Integration;
  const file = () => path.join(env.dataRoot, 'readings.csv');
  const materialize = (view: string) => env.materialize({ view, startMs: JAN_1, endMs: JAN_8 });
  const offline = async (view: string) =>
    (await storeRows(env.database.pool, await env.store.getView(view), 'offline')).map(
      (r) => `${r.entityKey}@${new Date(r.eventTs).toISOString()}=${Object.values(r.values).join(',')}`,
    );

  before(async () => {
    env = await startIntegration();
    writeFileSync(file(), HEADER + FIRST.join('\n') + '\n');
    await env.store.apply({ entities: [station], views: [readings, hourly] });
  });

  after(() => env?.close());

  test('rows appended after their chunk was committed are picked up by an explicit re-run, once', async () => {
    const first = await materialize('stale_readings');
    assert.equal(first.result.rowsWritten, 3);
    assert.deepEqual(
      (await env.store.chunkStates(await env.store.getView('stale_readings'))).map((c) => c.stale),
      [false, false],
      'two weekly chunks (Dec 28 - Jan 4, Jan 4 - Jan 11), both up to date',
    );

    // Late data: a reading of Jan 3 arrives after the week's chunk was committed.
    appendFileSync(file(), '2001-01-03T12:00:00Z,B,7\n');
    const [chunk, next] = await env.store.chunkStates(await env.store.getView('stale_readings'));
    assert.deepEqual([chunk.stale, chunk.revision, next.stale], [true, 1, false], 'its chunk is stale');

    const second = await materialize('stale_readings');
    assert.deepEqual(
      [second.result.chunksSkipped, second.result.chunksRevised, second.result.rowsWritten],
      [1, 1, 4],
      'the stale chunk was computed again as a whole, the other skipped',
    );
    assert.deepEqual(await offline('stale_readings'), [
      'A@2001-01-02T10:15:00.000Z=1',
      'A@2001-01-03T09:00:00.000Z=3',
      'B@2001-01-02T11:15:00.000Z=2',
      'B@2001-01-03T12:00:00.000Z=7',
    ]);
    const online = await storeRows(env.database.pool, await env.store.getView('stale_readings'), 'online');
    assert.deepEqual(
      online.map((r) => `${r.entityKey}=${r.values.level}`),
      ['A=3', 'B=7'],
      'online holds the late row',
    );

    // A retry or re-run with the same source writes nothing: still exactly the source rows.
    const third = await materialize('stale_readings');
    assert.deepEqual([third.result.chunksSkipped, third.result.chunksRevised], [2, 0]);
    assert.equal((await offline('stale_readings')).length, 4);
    const [after] = await env.store.chunkStates(await env.store.getView('stale_readings'));
    assert.deepEqual([after.stale, after.revision], [false, 2]);
  });

  test('a corrected source replaces rows: entities whose rows are gone lose their online row', async () => {
    // B's readings were wrong and are removed; A's last reading is corrected.
    writeFileSync(
      file(),
      HEADER + ['2001-01-02T10:15:00Z,A,1', '2001-01-03T09:00:00Z,A,30'].join('\n') + '\n',
    );
    const run = await materialize('stale_readings');
    assert.equal(run.result.chunksRevised, 1);
    assert.deepEqual(await offline('stale_readings'), [
      'A@2001-01-02T10:15:00.000Z=1',
      'A@2001-01-03T09:00:00.000Z=30',
    ]);
    const online = await storeRows(env.database.pool, await env.store.getView('stale_readings'), 'online');
    assert.deepEqual(
      online.map((r) => `${r.entityKey}=${r.values.level}`),
      ['A=30'],
    );
  });

  test('window views revise the chunks whose windows read changed rows; training sets see the new data', async () => {
    await materialize('stale_hourly');
    const before = await env.store.getHistoricalFeatures({
      entities: { station: ['A'] },
      asOf: Date.UTC(2001, 0, 4, 13, 0),
      features: [{ view: 'stale_hourly', feature: 'readings_1h' }],
    });
    assert.equal(before.columns.stale_hourly__readings_1h.valid[0], 0, 'no reading of A in that hour yet');
    appendFileSync(file(), '2001-01-04T12:30:00Z,A,5\n');
    const run = await materialize('stale_hourly');
    assert.equal(run.result.chunksRevised, 1);
    const afterRun = await env.store.getHistoricalFeatures({
      entities: { station: ['A'] },
      asOf: Date.UTC(2001, 0, 4, 13, 0),
      features: [{ view: 'stale_hourly', feature: 'readings_1h' }],
    });
    assert.equal(afterRun.columns.stale_hourly__readings_1h.values[0], 1);
  });

  test('rows without a usable time appended later are quarantined by the next run, once', async () => {
    const untimed = async () =>
      (
        await env.database.pool.query(
          `SELECT chunk_id, reason FROM kaizen.quarantine WHERE view_name = 'stale_readings' ORDER BY id`,
        )
      ).rows.map((r) => `${r.chunk_id} ${r.reason}`);
    appendFileSync(file(), 'not-a-time,D,4\n');
    for (let run = 0; run < 2; run++) {
      await materialize('stale_readings');
      assert.deepEqual(await untimed(), [
        'stale_readings@v1:untimed wrong type: column "ts" value "not-a-time" is not an ISO-8601 timestamp',
      ]);
    }
  });

  test('an attempt whose read is overtaken by another commit writes nothing; its retry converges', async () => {
    const view = await env.store.getView('stale_readings');
    const range = { startMs: Date.UTC(2000, 11, 28), endMs: Date.UTC(2001, 0, 4) };
    const id = chunkId(view, range);
    const lock = await env.database.pool.connect();
    const waiting = async (n: number) => {
      for (;;) {
        const { rows } = await lock.query(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`,
        );
        if (rows[0].n >= n) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      // Both attempts read the ledger and the source, then wait for the chunk's lock (FIFO): the
      // first commits what it read; the second read other rows, so it must not commit over it.
      await lock.query('SELECT pg_advisory_lock(hashtext($1))', [id]);
      appendFileSync(file(), '2001-01-02T20:00:00Z,A,11\n');
      const first = env.store.materializeChunk(view, range);
      await waiting(1);
      appendFileSync(file(), '2001-01-02T21:00:00Z,A,12\n');
      const second = env.store.materializeChunk(view, range);
      await waiting(2);
      await lock.query('SELECT pg_advisory_unlock(hashtext($1))', [id]);
      assert.equal((await first).alreadyCommitted, false);
      await assert.rejects(second, ConcurrentChunkError);
    } finally {
      lock.release();
    }
    const retried = await env.store.materializeChunk(view, range);
    assert.equal(retried.revised, true);
    const levels = (await offline('stale_readings')).filter((r) => r.startsWith('A@2001-01-02T2'));
    assert.deepEqual(levels, ['A@2001-01-02T20:00:00.000Z=11', 'A@2001-01-02T21:00:00.000Z=12']);
  });

  test('kaizen status names stale chunks and the command that refreshes them', async () => {
    appendFileSync(file(), '2001-01-05T08:00:00Z,C,9\n');
    const config = loadConfig({
      ...process.env,
      DATABASE_URL: env.databaseUrl,
      KAIZEN_DATA_ROOT: env.dataRoot,
    });
    const statuses = await statusCommand(config);
    const status = statuses.find((s) => s.view === 'stale_readings')!;
    assert.equal(status.stale.length, 1);
    const lines = formatViewStatus(status);
    assert.match(lines[0], /1 stale chunk \(source changed since\)/);
    assert.match(
      lines.at(-1)!,
      /run: kaizen materialize stale_readings@v1 --start 2001-01-04T00:00:00.000Z --end 2001-01-11T00:00:00.000Z/,
    );
  });
});
