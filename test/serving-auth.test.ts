import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { getTRPCErrorShape, TRPCError } from '@trpc/server';
import { eq, sql } from 'drizzle-orm';
import { formatKeyList, parseScopesOption, revokeKeys } from '../cli/commands/keys.js';
import type { Database } from '../db/client.js';
import { apiKeys } from '../db/schema.js';
import { setAlias } from '../models/registry.js';
import { createApiKey, createApiKeyVerifier, listApiKeys } from '../serving/api-keys.js';
import type { ApiKeyVerifier, ServingContext, ServingDeps } from '../serving/context.js';
import { createServingMetrics } from '../serving/metrics.js';
import { appRouter, createCaller } from '../serving/router.js';
import { createTestDatabase } from './support/database.js';
import { startRegistryFixture, type RegistryFixture } from './support/registry-fixture.js';

const SECRET = /^kz_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/;
/** The 43 random characters after `kz_<id>_`: what must never be stored or printed. */
const randomPart = (secret: string) => secret.slice(16);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects with a TRPCError of this code; returns it for further checks. */
async function rejectsWith(call: Promise<unknown>, code: TRPCError['code']): Promise<TRPCError> {
  const error = await call.then(
    () => assert.fail(`expected ${code}, got a result`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof TRPCError, `expected a TRPCError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  return error;
}

describe('serving auth (Postgres)', () => {
  let fixture: RegistryFixture;
  let database: Database;
  let deps: ServingDeps;
  /** Pool checkouts so far: one per query, so a cache hit leaves it unchanged. */
  let queries = 0;
  const secrets: Record<'admin' | 'predict' | 'features', string> = { admin: '', predict: '', features: '' };

  /** A caller authenticated the way a server does: the presented secret through a verifier. */
  const callerFor = async (secret: string | null, verifier: ApiKeyVerifier = deps.keys) =>
    createCaller({
      deps,
      key: secret === null ? null : await verifier.verify(secret),
    } satisfies ServingContext);

  before(async () => {
    fixture = await startRegistryFixture();
    database = fixture.database;
    database.pool.on('acquire', () => queries++);
    // Only what the admin and models procedures use; the rest (online features, models) stays out.
    deps = {
      db: database.db,
      pool: database.pool,
      keys: createApiKeyVerifier(database.db),
      metrics: createServingMetrics(),
      limits: { maxRows: 1000, maxBodyBytes: 1 << 20 },
    } satisfies Partial<ServingDeps> as ServingDeps;
    secrets.admin = (await createApiKey(database.db, { name: 'ops', scopes: ['admin'] })).secret;
    const admin = await callerFor(secrets.admin);
    secrets.predict = (await admin.admin.keys.create({ name: 'checkout', scopes: ['predict'] })).secret;
    secrets.features = (await admin.admin.keys.create({ name: 'search', scopes: ['features:read'] })).secret;
  });

  after(() => fixture?.close());

  test('a key is shown once and stored only as a SHA-256: no row holds the secret', async () => {
    const admin = await callerFor(secrets.admin);
    const created = await admin.admin.keys.create({
      name: 'reports',
      scopes: ['predict', 'features:read', 'predict'],
    });
    assert.match(created.secret, SECRET);
    assert.equal(created.prefix, `kz_${created.id}`);
    assert.deepEqual(created.scopes, ['predict', 'features:read']);

    const [stored] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, created.id));
    assert.equal(stored.keyHash, createHash('sha256').update(created.secret).digest('hex'));
    const table = await database.db.execute<{ rows: string }>(
      sql`SELECT string_agg(row_to_json(k)::text, ' ') AS rows FROM kaizen.api_keys k`,
    );
    for (const secret of [...Object.values(secrets), created.secret])
      assert.ok(!table.rows[0].rows.includes(randomPart(secret)), 'a stored row contains a secret');

    const listed = await admin.admin.keys.list();
    assert.deepEqual(
      listed.map((k) => [k.name, k.scopes, k.revokedAt]),
      [
        ['ops', ['admin'], null],
        ['checkout', ['predict'], null],
        ['search', ['features:read'], null],
        ['reports', ['predict', 'features:read'], null],
      ],
    );
    for (const key of listed)
      assert.deepEqual(Object.keys(key).sort(), ['createdAt', 'id', 'name', 'prefix', 'revokedAt', 'scopes']);
    assert.ok(!JSON.stringify(listed).includes(randomPart(created.secret)));
  });

  test('no key, an unknown or malformed key → UNAUTHORIZED, before the input is looked at', async () => {
    const known = secrets.admin;
    const forged = `${known.slice(0, 16)}${'A'.repeat(43)}`;
    for (const secret of [null, forged, `${known}x`, known.toUpperCase(), '', 'Bearer kz_']) {
      const caller = await callerFor(secret);
      await rejectsWith(caller.admin.keys.list(), 'UNAUTHORIZED');
      await rejectsWith(caller.models.list(), 'UNAUTHORIZED');
      // Invalid input from an unauthenticated caller learns nothing about the input schema.
      await rejectsWith(caller.admin.keys.create({ name: '', scopes: [] }), 'UNAUTHORIZED');
    }
  });

  test('a key without the scope → FORBIDDEN; admin implies every scope', async () => {
    const predict = await callerFor(secrets.predict);
    const forbidden = await rejectsWith(predict.admin.keys.list(), 'FORBIDDEN');
    assert.match(forbidden.message, /"checkout" lacks scope admin/);
    await rejectsWith(predict.admin.keys.create({ name: 'x', scopes: ['admin'] }), 'FORBIDDEN');
    await rejectsWith((await callerFor(secrets.features)).models.list(), 'FORBIDDEN');
    assert.deepEqual(await predict.models.list(), []);
    assert.deepEqual(await (await callerFor(secrets.admin)).models.list(), []);
  });

  test('invalid input → BAD_REQUEST with the zod issues in the error shape', async () => {
    const admin = await callerFor(secrets.admin);
    const input = { name: ' ', scopes: ['features:read', 'root'] };
    const error = await rejectsWith(admin.admin.keys.create(input as never), 'BAD_REQUEST');
    const shape = getTRPCErrorShape({
      config: appRouter._def._config,
      error,
      type: 'mutation',
      path: 'admin.keys.create',
      input,
      ctx: undefined,
    });
    assert.equal(shape.data.httpStatus, 400);
    const issues = (shape.data.zodIssues ?? []).map((i) => [i.path.join('.'), i.code]);
    assert.deepEqual(issues, [
      ['name', 'too_small'],
      ['scopes.1', 'invalid_value'],
    ]);
    await rejectsWith(admin.admin.keys.create({ name: 'none', scopes: [] }), 'BAD_REQUEST');
    await rejectsWith(admin.admin.keys.revoke({ key: '' }), 'BAD_REQUEST');
    await rejectsWith(admin.models.history({ model: 'delays', limit: 0 }), 'BAD_REQUEST');
    await rejectsWith(admin.models.get({} as never), 'BAD_REQUEST');
  });

  test('revocation takes effect once the cache window has passed; revoking again → NOT_FOUND', async () => {
    const cacheMs = 300;
    const verifier = createApiKeyVerifier(database.db, { cacheMs });
    const admin = await callerFor(secrets.admin);
    const key = await admin.admin.keys.create({ name: 'temp', scopes: ['predict'] });
    assert.deepEqual(await verifier.verify(key.secret), { id: key.id, name: 'temp', scopes: ['predict'] });

    const revoked = await admin.admin.keys.revoke({ key: key.id });
    assert.deepEqual(
      revoked.map((k) => k.id),
      [key.id],
    );
    assert.ok(revoked[0].revokedAt instanceof Date);
    await sleep(cacheMs + 50);
    assert.equal(await verifier.verify(key.secret), null);
    await rejectsWith((await callerFor(key.secret, verifier)).models.list(), 'UNAUTHORIZED');
    await rejectsWith(admin.admin.keys.revoke({ key: key.id }), 'NOT_FOUND');

    // By name: every active key with that name (a rotation revokes the old one by id instead).
    const first = await admin.admin.keys.create({ name: 'rotating', scopes: ['predict'] });
    const second = await admin.admin.keys.create({ name: 'rotating', scopes: ['predict'] });
    assert.deepEqual(
      (await admin.admin.keys.revoke({ key: first.prefix })).map((k) => k.id),
      [first.id],
    );
    assert.deepEqual(
      (await admin.admin.keys.revoke({ key: 'rotating' })).map((k) => k.id),
      [second.id],
    );
    const listed = await listApiKeys(database.db);
    assert.ok(listed.filter((k) => k.name === 'rotating').every((k) => k.revokedAt !== null));
  });

  test('the verifier cache: hits and misses without a query, one query for concurrent misses, bounded', async () => {
    const verifier = createApiKeyVerifier(database.db, { cacheMs: 60_000, maxEntries: 2 });
    const unknown = `kz_${'0'.repeat(12)}_${'B'.repeat(43)}`;
    const count = async (body: () => Promise<unknown>) => {
      const before = queries;
      await body();
      return queries - before;
    };

    assert.equal(await count(() => verifier.verify('not a key')), 0, 'malformed secrets need no query');
    const concurrent = () => Promise.all(Array.from({ length: 20 }, () => verifier.verify(secrets.predict)));
    assert.equal(await count(concurrent), 1, 'concurrent misses share one query');
    assert.ok((await concurrent()).every((key) => key?.name === 'checkout'));
    assert.equal(await count(() => verifier.verify(secrets.predict)), 0, 'a positive hit');
    assert.equal(await count(() => verifier.verify(unknown)), 1);
    assert.equal(await count(() => verifier.verify(unknown)), 0, 'a negative hit');
    assert.equal(await count(() => verifier.verify(secrets.features)), 1);
    assert.equal(await count(() => verifier.verify(secrets.predict)), 1, 'the oldest entry was dropped');
  });

  test('a key in use is re-read in the background past half its cache window; revocation still lands within it', async () => {
    const cacheMs = 1000;
    const verifier = createApiKeyVerifier(database.db, { cacheMs });
    const admin = await callerFor(secrets.admin);
    const key = await admin.admin.keys.create({ name: 'busy', scopes: ['predict'] });
    const cachedAt = Date.now();
    const first = verifier.verify(key.secret);
    assert.equal((await first)?.id, key.id);
    await sleep(Math.max(0, cachedAt + cacheMs / 2 + 20 - Date.now()));
    // Past refreshAt: answered from the cache (the very promise, already settled) while one query runs.
    const before = queries;
    assert.equal(verifier.verify(key.secret), first);
    assert.equal(verifier.verify(key.secret), first, 'one background query at a time');
    let refreshed = first;
    for (const deadline = Date.now() + cacheMs / 2 - 30; refreshed === first && Date.now() < deadline;) {
      await sleep(5);
      refreshed = verifier.verify(key.secret);
    }
    assert.notEqual(refreshed, first, 'the re-read answer replaced the cached one before it expired');
    assert.equal(queries - before, 1);
    assert.equal((await refreshed)?.id, key.id);

    // Under steady traffic (a call every 20 ms, each one past refreshAt re-reading in the background),
    // a revoked key is refused within cacheMs of its revocation.
    await admin.admin.keys.revoke({ key: key.id });
    const revokedAt = Date.now();
    let last: unknown = key;
    while (Date.now() < revokedAt + cacheMs + 200) {
      const calledAt = Date.now();
      last = await verifier.verify(key.secret);
      if (last !== null)
        assert.ok(
          calledAt <= revokedAt + cacheMs,
          `still accepted ${calledAt - revokedAt} ms after revocation`,
        );
      await sleep(20);
    }
    assert.equal(last, null);
  });

  test('models.list, models.get and models.history with a predict key', async () => {
    await fixture.register('delays', 'one', { validation: { auc: 0.71 } });
    await fixture.register('delays', 'two', { validation: { auc: 0.74 } });
    await setAlias(database.db, {
      model: 'delays',
      alias: 'champion',
      version: 1,
      actor: 'test',
      reason: 'first',
    });
    await setAlias(database.db, {
      model: 'delays',
      alias: 'champion',
      version: 2,
      actor: 'test',
      reason: 'better',
    });
    const predict = await callerFor(secrets.predict);

    assert.deepEqual(await predict.models.list(), [
      { name: 'delays', latestVersion: 2, champion: 2, challenger: null },
    ]);
    const model = await predict.models.get({ model: 'delays' });
    assert.equal(model.shadowChallenger, false);
    assert.deepEqual(
      model.versions.map((v) => [v.version, v.features, v.validationAuc]),
      [
        [1, ['airport_departures@v1:departures_1h'], 0.71],
        [2, ['airport_departures@v1:departures_1h'], 0.74],
      ],
    );
    assert.deepEqual(
      model.aliases.map((a) => [a.alias, a.version]),
      [['champion', 2]],
    );
    const history = await predict.models.history({ model: 'delays', limit: 1 });
    assert.deepEqual(
      history.map((e) => [e.alias, e.fromVersion, e.toVersion, e.actor, e.reason]),
      [['champion', 1, 2, 'test', 'better']],
    );
    assert.equal((await predict.models.history({ model: 'delays' })).length, 2);
    await rejectsWith(predict.models.get({ model: 'nope' }), 'NOT_FOUND');
    await rejectsWith(predict.models.history({ model: 'nope' }), 'NOT_FOUND');
  });

  test('CLI helpers: scopes option, validation errors, list and revoke output', async () => {
    assert.deepEqual(parseScopesOption(' features:read, predict,'), ['features:read', 'predict']);
    await assert.rejects(
      createApiKey(database.db, { name: 'bad', scopes: parseScopesOption('predict,root') }),
      /invalid API key: .*\n?.*scopes\[1\]/,
    );
    await assert.rejects(revokeKeys(database.db, 'nobody'), /no active API key with id or name "nobody"/);
    const key = await createApiKey(database.db, { name: 'cli-helper', scopes: ['predict'] });
    assert.equal(await revokeKeys(database.db, key.id), `revoked ${key.prefix} "cli-helper" (predict)`);

    const lines = formatKeyList(await listApiKeys(database.db)).split('\n');
    assert.match(lines[0], /^key +name +created +status +scopes$/);
    const line = lines.find((l) => l.startsWith(key.prefix));
    assert.match(line ?? '', /^kz_[0-9a-f]{12} +cli-helper +\S+Z +revoked \S+Z +predict$/);
    assert.ok(lines.some((l) => /^kz_\S+ +ops +\S+Z +active +admin$/.test(l)));
    assert.ok(!lines.join('\n').includes(randomPart(key.secret)));
  });
});

describe('kaizen keys (CLI process)', () => {
  const kaizen = promisify(execFile);
  const home = mkdtempSync(path.join(os.tmpdir(), 'kaizen-keys-'));
  let url = '';
  let drop: () => Promise<void> = async () => undefined;
  const run = (...args: string[]) =>
    kaizen(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'keys', ...args], {
      env: { ...process.env, DATABASE_URL: url, KAIZEN_HOME: home },
    });

  before(async () => {
    const testDb = await createTestDatabase();
    url = testDb.url;
    drop = testDb.drop;
  });

  after(async () => {
    await drop();
    rmSync(home, { recursive: true, force: true });
  });

  test('create prints the secret alone on stdout and the warning on stderr; list shows no secret', async () => {
    const created = await run('create', '--name', 'ci', '--scopes', 'predict,features:read');
    const secret = created.stdout.trim();
    assert.match(secret, SECRET);
    assert.match(created.stderr, /created API key kz_[0-9a-f]{12} "ci" \(predict, features:read\)/);
    assert.match(created.stderr, /only its hash is kept, it cannot be shown again/);

    const listed = (await run('list')).stdout;
    assert.match(listed, /^kz_[0-9a-f]{12} +ci +\S+Z +active +predict,features:read$/m);
    assert.ok(!listed.includes(randomPart(secret)));
  });
});
