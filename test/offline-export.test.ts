import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tableFromIPC, tableToIPC, TimeUnit, Type } from 'apache-arrow';
import { to as copyTo } from 'pg-copy-streams';
import { connectDatabase, runMigrations, type Database } from '../db/client.js';
import { defineEntity } from '../feature-store/definitions/entity.js';
import type { FeatureRows } from '../feature-store/offline/feature-rows.js';
import { defineFeatureView } from '../feature-store/definitions/feature-view.js';
import { materializeChunk } from '../feature-store/materialization/chunk.js';
import {
  exportOffline,
  featureRowsFromArrow,
  featureRowsToArrow,
  offlineCopySql,
  OfflineRowsDecoder,
  readOfflineRows,
  type OfflineRowFilter,
} from '../feature-store/offline/export.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import { getViewVersion } from '../feature-store/registry/views.js';
import type { ViewVersion } from '../feature-store/registry/types.js';
import { createTestDatabase } from './support/database.js';

const station = defineEntity({ name: 'station', joinKey: 'station' });
const QUOTED_KEY = "O'Hare\\x";
/** How the key is stored: the backslash escaped (definitions/entity-keys.ts), a quote as it is. */
const STORED_QUOTED_KEY = "O'Hare\\\\x";
// Chunk 1 gets the 1999 rows (negative microseconds since PostgreSQL's 2000 epoch), chunk 2 the rest.
// Rows of one entity with identical event times are full ties: only ingestion order tells them apart.
const CSV_ROWS = [
  [
    '1999-12-31T23:59:59.999Z',
    'A',
    '-9007199254740991',
    '-1.5',
    'true',
    '"héllo, world"',
    '1969-07-20T20:17:40.123Z',
  ],
  ['1999-06-01T00:00:00Z', 'B', '', '', '', '', ''],
  ['1999-06-01T00:00:00Z', QUOTED_KEY, '42', '3.25', 'false', '""', '1900-01-01T00:00:00Z'],
  ['1999-03-01T00:00:00Z', 'T', '1', '0.1', '1', 'first', ''],
  ['1999-03-01T00:00:00Z', 'T', '2', '0.1', '1', 'second', ''],
  ['1999-03-01T00:00:00Z', 'T', '3', '0.1', '1', 'third', ''],
  ['2001-01-05T09:00:00Z', 'A', '9007199254740991', '1e300', '0', 'x', '2100-01-01T00:00:00.001Z'],
  ['2001-02-01T00:00:00Z', 'B', '0', '0', 'f', 'tab\there', '2000-01-01T00:00:00Z'],
  ['2001-03-01T00:00:00Z', 'T', '10', '', 't', '', '1999-12-31T23:59:59.999Z'],
  ['2001-03-01T00:00:00Z', 'T', '11', '-0.25', '', 'b', '2000-01-01T00:00:00.001Z'],
];
const CSV = ['ts,station,n,x,ok,label,seen', ...CSV_ROWS.map((r) => r.join(','))].join('\n');
const CHUNKS = [
  { startMs: Date.UTC(1999, 0, 1), endMs: Date.UTC(2000, 0, 1) },
  { startMs: Date.UTC(2000, 0, 1), endMs: Date.UTC(2002, 0, 1) },
];

const plain = defineFeatureView({
  name: 'export_plain',
  entities: [station],
  source: { kind: 'csv', path: 'plain.csv', timestampField: 'ts' },
  features: { n: 'int64', x: 'float64', ok: 'bool', label: 'string', seen: 'timestamp' },
});
const big = defineFeatureView({
  name: 'export_big',
  entities: [station],
  source: { kind: 'csv', path: 'plain.csv', timestampField: 'ts' },
  features: { n: 'int64' },
});

const reused = defineFeatureView({
  name: 'export_reused',
  entities: [station],
  source: { kind: 'csv', path: 'weeks.csv', timestampField: 'ts' },
  features: { n: 'int64' },
});
const WEEK = 7 * 86_400_000;
const WEEK_ROWS = [300, 300, 20]; // weeks B, C, D
const WEEKS_CSV = [
  'ts,station,n',
  ...WEEK_ROWS.flatMap((count, w) =>
    Array.from({ length: count }, (_, i) => {
      const n = WEEK_ROWS.slice(0, w).reduce((a, b) => a + b, 0) + i;
      return `${new Date(Date.UTC(2001, 0, 1) + w * WEEK + i * 60_000).toISOString()},S${i % 7},${n}`;
    }),
  ),
].join('\n');

type Row = Record<string, string | number | boolean | null>;

/** Decoded rows as plain objects (nulls as null, int64 as decimal text) for comparisons. */
function rowObjects(view: ViewVersion, rows: FeatureRows): Row[] {
  return Array.from({ length: rows.length }, (_, i) => {
    const row: Row = {
      entity_key: rows.keys[rows.keyCodes[i]],
      event_ts: rows.eventTs[i],
      created_ts: rows.createdTs[i],
    };
    for (const f of view.features) {
      const c = rows.columns[f.name];
      const v = c.values[i];
      row[f.name] = !c.valid[i] ? null : f.type === 'bool' ? v === 1 : f.type === 'int64' ? String(v) : v;
    }
    return row;
  });
}

describe('offline export (Postgres)', () => {
  let dataRoot: string;
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let database: Database;
  let view: ViewVersion;

  /** The same rows through a plain SELECT, in physical order (ctid), as the reference. */
  async function selectRows(where = ''): Promise<Row[]> {
    const ms = (c: string) => `(extract(epoch FROM ${c}) * 1000)::float8 AS ${c}`;
    const { rows } = await database.pool.query(
      `SELECT entity_key, ${ms('event_ts')}, ${ms('created_ts')}, n::text AS n, x, ok, label, ${ms('seen')}
       FROM kaizen_offline."export_plain__v1" ${where} ORDER BY ctid`,
    );
    return rows;
  }

  before(async () => {
    dataRoot = mkdtempSync(path.join(os.tmpdir(), 'kaizen-export-'));
    writeFileSync(path.join(dataRoot, 'plain.csv'), CSV);
    writeFileSync(path.join(dataRoot, 'weeks.csv'), WEEKS_CSV);
    testDb = await createTestDatabase();
    database = connectDatabase(testDb.url);
    await runMigrations(database);
    await applyDefinitions(database.db, { entities: [station], views: [plain, big, reused] });
    view = await getViewVersion(database.db, 'export_plain');
    let clock = Date.UTC(2024, 4, 1, 12, 0, 0, 123);
    for (const range of CHUNKS) {
      const result = await materializeChunk(
        { pool: database.pool, dataRoot, now: () => clock++ },
        view,
        range,
      );
      assert.equal(result.rowsQuarantined, 0);
    }
  });

  after(async () => {
    await database?.close();
    await testDb?.drop();
    rmSync(dataRoot, { recursive: true, force: true });
  });

  test('every value of all five feature types equals a plain SELECT, nulls included', async () => {
    const rows = await readOfflineRows(database.pool, view);
    assert.equal(rows.length, CSV_ROWS.length);
    assert.deepEqual(rowObjects(view, rows), await selectRows());
    const objects = rowObjects(view, rows);
    const first = objects.find((r) => r.n === '-9007199254740991')!;
    assert.deepEqual(first, {
      entity_key: 'A',
      event_ts: Date.UTC(1999, 11, 31, 23, 59, 59, 999),
      created_ts: Date.UTC(2024, 4, 1, 12, 0, 0, 123),
      n: '-9007199254740991',
      x: -1.5,
      ok: true,
      label: 'héllo, world',
      seen: Date.UTC(1969, 6, 20, 20, 17, 40, 123),
    });
    const nulls = objects.find((r) => r.entity_key === 'B' && r.event_ts === Date.UTC(1999, 5, 1))!;
    assert.deepEqual([nulls.n, nulls.x, nulls.ok, nulls.label, nulls.seen], [null, null, null, null, null]);
    const quoted = objects.find((r) => r.entity_key === STORED_QUOTED_KEY)!;
    assert.deepEqual([quoted.label, quoted.seen], ['', Date.UTC(1900, 0, 1)]);
    assert.equal(objects.find((r) => r.n === '9007199254740991')!.seen, Date.UTC(2100, 0, 1, 0, 0, 0, 1));
  });

  test('rows come back in ingestion order: chunk by chunk, as appended, ties in source order', async () => {
    const rows = rowObjects(view, await readOfflineRows(database.pool, view));
    // A chunk appends its rows ordered by event time (a stable sort: ties keep their source order).
    const inChunk = (r: string[], c: { startMs: number; endMs: number }) =>
      Date.parse(r[0]) >= c.startMs && Date.parse(r[0]) < c.endMs;
    const expected = CHUNKS.flatMap((c) =>
      CSV_ROWS.filter((r) => inChunk(r, c)).sort((a, b) => Date.parse(a[0]) - Date.parse(b[0])),
    ).map((r) => [r[1] === QUOTED_KEY ? STORED_QUOTED_KEY : r[1], r[2] || null]);
    assert.deepEqual(
      rows.map((r) => [r.entity_key, r.n]),
      expected,
    );
    const ties = rows.filter((r) => r.entity_key === 'T').map((r) => r.label);
    assert.deepEqual(ties, ['first', 'second', 'third', null, 'b']);
  });

  test('ingestion order holds after VACUUM lets a later chunk reuse space (ingest_seq)', async () => {
    const reusedView = await getViewVersion(database.db, 'export_reused');
    const table = `kaizen_offline."${reusedView.tables.offline}"`;
    const chunk = (w: number) =>
      materializeChunk({ pool: database.pool, dataRoot, now: () => Date.UTC(2024, 0, 1) + w }, reusedView, {
        startMs: Date.UTC(2001, 0, 1) + w * WEEK,
        endMs: Date.UTC(2001, 0, 1) + (w + 1) * WEEK,
      });
    await chunk(0);
    // An aborted chunk between two committed ones leaves dead rows in the middle of the heap.
    const client = await database.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO ${table} (entity_key, event_ts, n, created_ts, materialization_id)
         SELECT 'X', now(), g, now(), 'aborted' FROM generate_series(1, 3000) g`,
      );
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    await chunk(1);
    await database.pool.query(`VACUUM ${table}`);
    await chunk(2);
    const physical = await database.pool.query<{ n: string }>(`SELECT n::text FROM ${table} ORDER BY ctid`);
    const ns = physical.rows.map((r) => Number(r.n));
    assert.ok(
      ns.indexOf(600) < ns.indexOf(300),
      'premise: the last chunk was written into the reclaimed space, before the middle one',
    );
    const rows = await readOfflineRows(database.pool, reusedView);
    const n = rows.columns.n.values as Float64Array;
    assert.deepEqual(
      Array.from(n),
      Array.from({ length: 620 }, (_, i) => i),
      'rows in ingestion order',
    );
    const filtered = await readOfflineRows(database.pool, reusedView, { entityKeys: ['S3'] });
    const fn = Array.from(filtered.columns.n.values as Float64Array);
    assert.deepEqual(
      fn,
      [...fn].sort((a, b) => a - b),
    );
  });

  test('time range and entity filters (keys are escaped, not spliced)', async () => {
    const check = async (filter: OfflineRowFilter, where: string, count: number) => {
      const got = rowObjects(view, await readOfflineRows(database.pool, view, filter));
      assert.equal(got.length, count, where);
      assert.deepEqual(got, await selectRows(where));
    };
    const startMs = Date.UTC(1999, 5, 1);
    const endMs = Date.UTC(2001, 1, 1);
    await check({ startMs, endMs }, `WHERE event_ts >= '1999-06-01Z' AND event_ts < '2001-02-01Z'`, 4);
    await check({ startMs }, `WHERE event_ts >= '1999-06-01Z'`, 7);
    await check({ endMs }, `WHERE event_ts < '2001-02-01Z'`, 7);
    await check({ entityKeys: [STORED_QUOTED_KEY, 'T'] }, `WHERE entity_key IN ('O''Hare\\\\x', 'T')`, 6);
    await check(
      { entityKeys: ['A'], startMs: Date.UTC(2000, 0, 1) },
      `WHERE entity_key = 'A' AND event_ts >= '2000-01-01Z'`,
      1,
    );
    await check({ entityKeys: [] }, 'WHERE false', 0);
    await check({ entityKeys: ["x'); DROP TABLE kaizen_offline.export_plain__v1; --"] }, 'WHERE false', 0);
    await assert.rejects(readOfflineRows(database.pool, view, { startMs: NaN }), /invalid startMs/);
  });

  test('a COPY stream split at every byte boundary decodes identically', async () => {
    const client = await database.pool.connect();
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of client.query(copyTo(offlineCopySql(view)))) chunks.push(chunk as Buffer);
    } finally {
      client.release();
    }
    const bytes = Buffer.concat(chunks);
    const whole = new OfflineRowsDecoder(view.features);
    whole.push(bytes);
    // Capacity 1: growth happens on almost every row, mid-stream.
    const byByte = new OfflineRowsDecoder(view.features, 1);
    for (let i = 0; i < bytes.length; i++) byByte.push(bytes.subarray(i, i + 1));
    const expected = whole.finish();
    assert.equal(expected.length, CSV_ROWS.length);
    assert.deepEqual(byByte.finish(), expected);
    assert.deepEqual(expected, await readOfflineRows(database.pool, view));

    const truncated = new OfflineRowsDecoder(view.features);
    truncated.push(bytes.subarray(0, bytes.length - 1));
    assert.throws(() => truncated.finish(), /stream ended before the last row/);
    assert.throws(() => new OfflineRowsDecoder(view.features).push(Buffer.alloc(32)), /bad signature/);
  });

  test('int64 values beyond ±2^53 are a clear error, not a rounded number', async () => {
    const bigView = await getViewVersion(database.db, 'export_big');
    await database.pool.query(
      `INSERT INTO kaizen_offline."export_big__v1" (entity_key, event_ts, n, created_ts, materialization_id)
       VALUES ('A', now(), 9007199254740993, now(), 'manual')`,
    );
    await assert.rejects(
      readOfflineRows(database.pool, bigView),
      /"n" holds 9007199254740993, beyond ±2\^53/,
    );
  });

  test('Arrow round trip: featureRowsToArrow → IPC file → featureRowsFromArrow', async () => {
    const rows = await readOfflineRows(database.pool, view);
    const file = path.join(dataRoot, 'round-trip.arrow');
    writeFileSync(file, tableToIPC(featureRowsToArrow(view, rows), 'file'));
    const back = featureRowsFromArrow(view, tableFromIPC(readFileSync(file)));
    assert.deepEqual(rowObjects(view, back), rowObjects(view, rows));
    assert.deepEqual(back.keys, rows.keys);
    assert.deepEqual(back.keyCodes, rows.keyCodes);
  });

  test('exportOffline writes an Arrow IPC file with the documented schema, atomically', async () => {
    const dir = mkdtempSync(path.join(dataRoot, 'out-'));
    const out = path.join(dir, 'plain.arrow');
    writeFileSync(out, 'an older export');
    const result = await exportOffline(database.pool, view, out);
    assert.deepEqual(result, { rows: CSV_ROWS.length, path: out });
    assert.deepEqual(readdirSync(dir), ['plain.arrow'], 'no temp file left behind');
    const bytes = readFileSync(out);
    assert.equal(bytes.subarray(0, 6).toString('latin1'), 'ARROW1', 'IPC file (not stream) format');
    const table = tableFromIPC(bytes);
    assert.equal(table.numRows, CSV_ROWS.length);
    const types = Object.fromEntries(table.schema.fields.map((f) => [f.name, f.type]));
    assert.deepEqual(Object.keys(types), [
      'entity_key',
      'event_ts',
      'created_ts',
      'n',
      'x',
      'ok',
      'label',
      'seen',
    ]);
    assert.equal(types.entity_key.typeId, Type.Dictionary);
    assert.equal(types.entity_key.dictionary.typeId, Type.Utf8);
    for (const name of ['event_ts', 'created_ts', 'seen']) {
      assert.equal(types[name].typeId, Type.Timestamp, name);
      assert.equal(types[name].unit, TimeUnit.MILLISECOND, name);
      assert.equal(types[name].timezone, 'UTC', name);
    }
    assert.equal(types.n.typeId, Type.Int);
    assert.equal(types.n.bitWidth, 64);
    assert.equal(types.x.typeId, Type.Float);
    assert.equal(types.ok.typeId, Type.Bool);
    assert.equal(types.label.typeId, Type.Utf8);

    const reference = await selectRows();
    const i = reference.findIndex((r) => r.n === '-9007199254740991');
    assert.equal(table.getChild('n')!.get(i), -9007199254740991n);
    assert.equal(table.getChild('seen')!.get(i), Date.UTC(1969, 6, 20, 20, 17, 40, 123));
    assert.equal(table.getChild('entity_key')!.get(i), 'A');
    for (const name of ['n', 'x', 'ok', 'label', 'seen']) {
      assert.equal(table.getChild(name)!.nullCount, reference.filter((r) => r[name] === null).length, name);
    }
    assert.deepEqual(rowObjects(view, featureRowsFromArrow(view, table)), reference);

    const ranged = await exportOffline(database.pool, view, out, { startMs: Date.UTC(2000, 0, 1) });
    assert.equal(ranged.rows, 4);
    assert.equal(tableFromIPC(readFileSync(out)).numRows, 4);
  });
});
