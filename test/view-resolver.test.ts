import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { connectDatabase, runMigrations, type Database } from '../db/client.js';
import {
  createFeatureStore,
  defineEntity,
  defineFeatureView,
  type FeatureStore,
} from '../feature-store/index.js';
import { ViewResolver, type RegisteredView } from '../feature-store/registry/resolver.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const airport = defineEntity({ name: 'airport', joinKey: 'airport' });
const source = { kind: 'csv' as const, path: 'traffic.csv', timestampField: 'ts' };
const v1 = defineFeatureView({
  name: 'traffic',
  entities: [airport],
  source,
  features: { flights: 'int64' },
});
const v2 = defineFeatureView({ ...v1, features: { flights: 'int64', delayed: 'int64' } });

const versionOf = (resolved: RegisteredView | null | Promise<RegisteredView | null>) => {
  assert.ok(!(resolved instanceof Promise), 'answered from the cache, synchronously');
  return resolved?.view.version;
};

describe('view resolver: "latest" re-read ahead of its TTL', () => {
  let testDb: TestDatabase;
  let database: Database;
  let store: FeatureStore;
  let queries = 0;

  before(async () => {
    testDb = await createTestDatabase();
    database = connectDatabase(testDb.url);
    await runMigrations(database);
    store = createFeatureStore({ db: database.db, dataRoot: '/nonexistent' });
    await store.apply({ entities: [airport], views: [v1] });
    database.pool.on('acquire', () => queries++);
  });

  after(async () => {
    await database?.close();
    await testDb?.drop();
  });

  test('a name in use is re-read in the background past half its TTL; calls never wait', async () => {
    const ttlMs = 2000;
    const resolver = new ViewResolver(database.db, ttlMs);
    const cachedAt = performance.now();
    assert.equal((await resolver.resolve('traffic'))?.view.version, 1);
    assert.equal(versionOf(resolver.resolve('traffic')), 1);
    await store.apply({ entities: [airport], views: [v2] });

    await sleep(Math.max(0, cachedAt + ttlMs / 2 + 20 - performance.now()));
    const before = queries;
    assert.equal(versionOf(resolver.resolve('traffic')), 1, 'the cached answer while it is re-read');
    assert.equal(versionOf(resolver.resolve('traffic')), 1, 'one re-read at a time');
    let version = 1;
    for (
      const deadline = performance.now() + ttlMs / 2 - 30;
      version === 1 && performance.now() < deadline;
    ) {
      await sleep(5);
      version = versionOf(resolver.resolve('traffic'))!;
    }
    assert.equal(version, 2, 'the re-read answer replaced it before it expired');
    assert.ok(queries > before);
  });

  test('a re-read that forgetLatest overtook is dropped; pinned versions are never re-read', async () => {
    const resolver = new ViewResolver(database.db, 1000);
    assert.equal((await resolver.resolve('traffic', 1))?.view.version, 1);
    assert.equal((await resolver.resolve('traffic'))?.view.version, 2);
    await sleep(550);
    const before = queries;
    versionOf(resolver.resolve('traffic')); // starts the re-read
    resolver.forgetLatest('traffic');
    await sleep(50);
    const fresh = resolver.resolve('traffic');
    assert.ok(fresh instanceof Promise, 'forgotten: looked up again, not the overtaken re-read');
    assert.equal((await fresh)?.view.version, 2);

    await sleep(1100);
    const pinned = queries;
    assert.equal(versionOf(resolver.resolve('traffic', 1)), 1);
    assert.equal(queries, pinned, 'no query for a pinned version');
    assert.ok(pinned > before);
  });
});
