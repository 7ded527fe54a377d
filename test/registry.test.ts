import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectDatabase, MIGRATION_LOCK_KEY, runMigrations, type Database } from '../db/client.js';
import { defineEntity } from '../feature-store/definitions/entity.js';
import { defineFeatureView } from '../feature-store/definitions/feature-view.js';
import { materializeChunk } from '../feature-store/materialization/chunk.js';
import { readOnline } from '../feature-store/online/online-store.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import { getViewVersion } from '../feature-store/registry/views.js';
import type { FeatureViewDefinition } from '../feature-store/definitions/types.js';
import { createTestDatabase } from './support/database.js';

const airport = defineEntity({ name: 'airport', joinKey: 'airport' });
const CSV = [
  'ts,airport,delay,distance',
  '2001-01-05T09:00:00Z,SFO,12,100',
  '2001-01-05T10:00:00Z,SFO,7,120',
  '2001-01-06T10:00:00Z,OAK,3,80',
].join('\n');

function view(overrides: Partial<FeatureViewDefinition> = {}): FeatureViewDefinition {
  return defineFeatureView({
    name: 'delays',
    entities: [airport],
    source: { kind: 'csv', path: 'delays.csv', timestampField: 'ts' },
    ttl: '1d',
    features: { delay: 'float64', distance: 'int64' },
    ...overrides,
  });
}

describe('registry and versioning (Postgres)', () => {
  let dataRoot: string;
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let database: Database;

  before(async () => {
    dataRoot = mkdtempSync(path.join(os.tmpdir(), 'kaizen-reg-'));
    writeFileSync(path.join(dataRoot, 'delays.csv'), CSV);
    testDb = await createTestDatabase();
    database = connectDatabase(testDb.url);
    await runMigrations(database);
    await runMigrations(database); // idempotent
  });

  after(async () => {
    await database?.close();
    await testDb?.drop();
    rmSync(dataRoot, { recursive: true, force: true });
  });

  test('an up-to-date schema is checked without the migration lock (every process start checks it)', async () => {
    const holder = await database.pool.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      let timer: NodeJS.Timeout | undefined;
      const blocked = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('runMigrations waited for the migration lock')), 10_000);
      });
      await Promise.race([runMigrations(database), blocked]).finally(() => clearTimeout(timer));
    } finally {
      await holder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      holder.release();
    }
  });

  test('applying the same definitions twice registers one version', async () => {
    const first = await applyDefinitions(database.db, { entities: [airport], views: [view()] });
    assert.deepEqual(
      first.map((r) => [r.name, r.status, r.version]),
      [
        ['airport', 'created', undefined],
        ['delays', 'created', 1],
      ],
    );
    const second = await applyDefinitions(database.db, {
      entities: [airport],
      views: [view({ description: 'only metadata changed' })],
    });
    assert.deepEqual(
      second.map((r) => r.status),
      ['unchanged', 'unchanged'],
    );
    const { rows } = await database.pool.query(
      `SELECT count(*) AS n FROM kaizen.feature_view_versions WHERE view_name = 'delays'`,
    );
    assert.equal(rows[0].n, 1);
  });

  test('changing a feature type creates v2 with a diff; v1 stays readable with its own tables', async () => {
    const v1 = await getViewVersion(database.db, 'delays', 1);
    const range = { startMs: Date.UTC(2001, 0, 4), endMs: Date.UTC(2001, 0, 11) };
    await materializeChunk({ pool: database.pool, dataRoot }, v1, range);

    const [, changed] = await applyDefinitions(database.db, {
      entities: [airport],
      views: [view({ features: { delay: 'float64', distance: 'float64' } })],
    });
    assert.equal(changed.status, 'new-version');
    assert.equal(changed.version, 2);
    assert.deepEqual(changed.diff, ['features.distance.type: "int64" -> "float64"']);

    const latest = await getViewVersion(database.db, 'delays');
    assert.equal(latest.version, 2);
    assert.notEqual(latest.tables.offline, v1.tables.offline);
    const again = await getViewVersion(database.db, 'delays', 1);
    assert.deepEqual(again.features, [
      { name: 'delay', type: 'float64' },
      { name: 'distance', type: 'int64' },
    ]);
    const online = await readOnline(
      database.pool,
      again.tables.online,
      again.features,
      ['SFO', 'OAK', 'JFK'],
      {
        ttlMs: 86_400_000,
        nowMs: Date.UTC(2001, 0, 6, 12),
      },
    );
    assert.deepEqual(
      online.map((r) => [r.entityKey, r.status, r.values.delay]),
      [
        ['SFO', 'expired', null],
        ['OAK', 'present', 3],
        ['JFK', 'missing', null],
      ],
    );
  });

  test('changing an entity join key is refused', async () => {
    await assert.rejects(
      applyDefinitions(database.db, {
        entities: [defineEntity({ name: 'airport', joinKey: 'iata' })],
        views: [],
      }),
      /join key "airport"/,
    );
  });

  test('unsafe names never reach SQL', () => {
    assert.throws(() => view({ name: 'x"; drop table kaizen.entities; --' }), /invalid feature view/);
    assert.throws(() => view({ features: { 'Robert"); --': 'float64' } }), /invalid feature/);
    assert.throws(() => defineEntity({ name: 'air port', joinKey: 'airport' }), /invalid entity name/);
    assert.throws(() => view({ ttl: 'a week' }), /invalid duration/);
  });
});
