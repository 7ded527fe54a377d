import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Database } from '../db/client.js';
import { modelAliases } from '../db/schema.js';
import { ApplicationFailure } from '@temporalio/common';
import { asActivityFailure } from '../activities/errors.js';
import { FAILURE_TYPES } from '../constants.js';
import { connectDatabase } from '../db/client.js';
import { AliasConflictError, ModelNotFoundError, NoAliasError } from '../models/errors.js';
import {
  aliasHistory,
  findAliasedVersion,
  getModelVersion,
  loadModelArtifact,
  rollbackChampion,
  setAlias,
  sha256,
} from '../models/registry.js';
import { startRegistryFixture, type RegistryFixture } from './support/registry-fixture.js';

describe('model registry (Postgres)', () => {
  let fixture: RegistryFixture;
  let database: Database;
  const register = (name: string, bytes: string) => fixture.register(name, bytes, { auc: 0.7 });

  before(async () => {
    fixture = await startRegistryFixture();
    database = fixture.database;
  });

  after(() => fixture?.close());

  test('versions are numbered per model and keep the artifact sha256', async () => {
    const v1 = await register('delays', 'model one');
    const v2 = await register('delays', 'model two');
    const other = await register('other', 'x');
    assert.deepEqual([v1.version, v2.version, other.version], [1, 2, 1]);
    assert.equal(v2.artifactSha256, sha256(Buffer.from('model two')));
    assert.equal(Buffer.from(await loadModelArtifact(v2)).toString(), 'model two');
    await assert.rejects(register('Bad Name', 'x'), /invalid model name "Bad Name"/);
  });

  test('a tampered artifact (sha256 mismatch) is refused', async () => {
    const version = await register('tampered', 'original bytes');
    writeFileSync(version.artifactPath, 'original bytez');
    await assert.rejects(
      loadModelArtifact(version),
      /refusing model tampered@v1: .* has sha256 [0-9a-f]{64}, registered/,
    );
  });

  test('concurrent promotions apply one after another: one champion, an unbroken audit chain', async () => {
    const versions = [];
    for (let i = 0; i < 8; i++) versions.push((await register('race', `race ${i}`)).version);
    await Promise.all(
      versions.map((version) =>
        setAlias(database.db, {
          model: 'race',
          alias: 'champion',
          version,
          actor: `test-${version}`,
          reason: 'race',
        }),
      ),
    );
    const aliases = await database.db.select().from(modelAliases);
    assert.equal(aliases.filter((a) => a.modelName === 'race' && a.alias === 'champion').length, 1);
    const history = (await aliasHistory(database.db, 'race')).reverse();
    assert.equal(history.length, versions.length);
    assert.equal(history[0].fromVersion, null);
    for (let i = 1; i < history.length; i++)
      assert.equal(history[i].fromVersion, history[i - 1].toVersion, 'each change saw the previous one');
    const champion = await getModelVersion(database.db, 'race', 'champion');
    assert.equal(champion.version, history.at(-1)!.toVersion);
  });

  test('compare-and-set refuses a stale promotion; rollback restores the previous champion', async () => {
    const [a, b, c] = [await register('cas', 'a'), await register('cas', 'b'), await register('cas', 'c')];
    await setAlias(database.db, {
      model: 'cas',
      alias: 'champion',
      version: a.version,
      actor: 't',
      reason: 'first',
      expectedVersion: null,
    });
    await setAlias(database.db, {
      model: 'cas',
      alias: 'champion',
      version: b.version,
      actor: 't',
      reason: 'better',
      expectedVersion: a.version,
    });
    await assert.rejects(
      setAlias(database.db, {
        model: 'cas',
        alias: 'champion',
        version: c.version,
        actor: 't',
        reason: 'stale',
        expectedVersion: a.version,
      }),
      /alias cas:champion changed meanwhile: it is v2, expected v1/,
    );
    await assert.rejects(
      setAlias(database.db, { model: 'cas', alias: 'challenger', version: 99, actor: 't', reason: 'x' }),
      /unknown model version cas@v99/,
    );
    const rolled = await rollbackChampion(database.db, 'cas', 'operator', 'regression in production');
    assert.deepEqual(rolled, { from: b.version, to: a.version });
    assert.equal((await getModelVersion(database.db, 'cas', 'champion')).version, a.version);
    const [latest] = await aliasHistory(database.db, 'cas');
    assert.equal(latest.reason, 'regression in production');
    assert.equal(latest.actor, 'operator');
    assert.equal(
      (await aliasHistory(database.db, 'cas')).length,
      3,
      'the refused change left no audit entry',
    );
  });

  test('one champion lookup: none yet is undefined, an unknown model or a database error is an error', async () => {
    const first = await register('fresh', 'only version');
    assert.equal(await findAliasedVersion(database.db, 'fresh', 'champion'), undefined, 'no champion yet');
    await assert.rejects(getModelVersion(database.db, 'fresh', 'champion'), NoAliasError);
    await setAlias(database.db, {
      model: 'fresh',
      alias: 'champion',
      version: first.version,
      actor: 't',
      reason: 't',
    });
    assert.equal((await findAliasedVersion(database.db, 'fresh', 'champion'))?.version, first.version);
    await assert.rejects(findAliasedVersion(database.db, 'no_such_model', 'champion'), ModelNotFoundError);

    // A database that is gone is not "no champion": the error reaches the caller (and fails the activity).
    const closed = connectDatabase(process.env.DATABASE_URL!);
    await closed.close();
    await assert.rejects(findAliasedVersion(closed.db, 'fresh', 'champion'), (error: unknown) => {
      assert.ok(!(error instanceof NoAliasError || error instanceof ModelNotFoundError), String(error));
      assert.equal(asActivityFailure(error), error, 'left to Temporal retries, not made non-retryable');
      return true;
    });
  });

  test('a retried promotion (compare-and-set) whose first attempt committed succeeds, audited once', async () => {
    const a = await register('retried', 'a');
    const b = await register('retried', 'b');
    await setAlias(database.db, {
      model: 'retried',
      alias: 'champion',
      version: a.version,
      actor: 't',
      reason: 'first',
    });
    const promote = () =>
      setAlias(database.db, {
        model: 'retried',
        alias: 'champion',
        version: b.version,
        actor: 'train:retried',
        reason: 'passed the gates',
        expectedVersion: a.version,
      });
    assert.deepEqual(await promote(), { from: a.version, to: b.version });
    assert.deepEqual(await promote(), { from: a.version, to: b.version }, 'the retry finds its outcome');
    const audit = await aliasHistory(database.db, 'retried');
    assert.equal(audit.filter((e) => e.reason === 'passed the gates').length, 1);
  });

  test('typed registry errors become typed non-retryable activity failures', () => {
    const cases = [
      [new AliasConflictError('lost the race'), FAILURE_TYPES.aliasConflict],
      [new ModelNotFoundError('unknown model "x"'), FAILURE_TYPES.modelNotFound],
      [new NoAliasError('model "x" has no champion'), FAILURE_TYPES.modelNotFound],
    ] as const;
    for (const [error, type] of cases) {
      const failure = asActivityFailure(error);
      assert.ok(failure instanceof ApplicationFailure);
      assert.deepEqual([failure.type, failure.nonRetryable, failure.message], [type, true, error.message]);
    }
  });
});
