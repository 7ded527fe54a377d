/**
 * Real runtime test (slow, ~10 s): starts its own embedded PostgreSQL 18 and Temporal dev server on
 * OS-assigned ports, separate from the stack run-tests.ts provides to the other test files.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { loadConfig } from '../config.js';
import { SEARCH_ATTRIBUTES } from '../constants.js';
import { devStackFile, readRunningStack, startDevStack } from '../runtime/dev-stack.js';
import { startEmbeddedPostgres } from '../runtime/embedded-postgres.js';
import { findFreePort } from '../runtime/ports.js';
import { startTemporalDevServer } from '../runtime/temporal-dev-server.js';

/** IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD in Temporal's API protos. */
const KEYWORD = 2;

const scratchDirs: string[] = [];
async function scratchDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kaizen-dev-stack-test-'));
  // As root, PostgreSQL runs as the `postgres` user, which must be able to traverse this.
  await fs.chmod(dir, 0o755);
  scratchDirs.push(dir);
  return dir;
}
const removeScratchDirs = () => scratchDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true }));
after(removeScratchDirs);
// Interrupted runs skip `after`.
process.on('exit', removeScratchDirs);

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** A port is free again once nothing listens on it: findFreePort hands back the preferred one. */
async function isPortFree(port: number): Promise<boolean> {
  return (await findFreePort(port)) === port;
}

describe('embedded dev stack (slow: real processes)', { timeout: 60_000 }, () => {
  test('ephemeral stack serves PostgreSQL 18 and Temporal with the Kaizen search attributes', async () => {
    const home = await scratchDir();
    const namespace = 'kaizen-dev-stack-test';
    const config = loadConfig({
      KAIZEN_HOME: home,
      TEMPORAL_NAMESPACE: namespace,
      KAIZEN_TEMPORAL_BIN: process.env.KAIZEN_TEMPORAL_BIN,
    });
    const stack = await startDevStack(config, { ephemeral: true });
    try {
      assert.equal(stack.namespace, namespace);
      const [{ version }] = await query<{ version: string }>(stack.databaseUrl, 'SELECT version()');
      assert.match(version, /^PostgreSQL 18\./);

      const connection = await Connection.connect({ address: stack.temporalAddress });
      try {
        const described = await connection.workflowService.describeNamespace({ namespace });
        assert.equal(described.namespaceInfo?.name, namespace);
        const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
        assert.equal(customAttributes?.[SEARCH_ATTRIBUTES.featureView], KEYWORD);
        assert.equal(customAttributes?.[SEARCH_ATTRIBUTES.model], KEYWORD);
      } finally {
        await connection.close();
      }

      const running = readRunningStack(home);
      assert.equal(running?.pid, process.pid);
      assert.equal(running?.databaseUrl, stack.databaseUrl);
      assert.equal(running?.temporalAddress, stack.temporalAddress);
    } finally {
      await stack.stop();
    }
    await stack.stop(); // idempotent
    assert.equal(existsSync(devStackFile(home)), false);
    assert.equal(readRunningStack(home), undefined);
    assert.ok(await isPortFree(Number(new URL(stack.databaseUrl).port)), 'postgres port released');
    assert.ok(await isPortFree(Number(stack.temporalAddress.split(':')[1])), 'temporal port released');
  });

  test('embedded PostgreSQL keeps data across restarts, survives a stale postmaster.pid, refuses a second postmaster', async () => {
    const dataDir = path.join(await scratchDir(), 'pg');
    const port = await findFreePort(0);

    const first = await startEmbeddedPostgres({ dataDir, port });
    try {
      await query(first.url, 'CREATE TABLE survivor (id int PRIMARY KEY, note text)');
      await query(first.url, "INSERT INTO survivor VALUES (1, 'written before the restart')");
      await assert.rejects(
        startEmbeddedPostgres({ dataDir, port: await findFreePort(0) }),
        /already running/,
        'a second postmaster on the same data dir must be refused',
      );
    } finally {
      await first.stop();
    }

    // Simulate a crash: a postmaster.pid whose process is gone.
    const deadPid = spawnSync('true').pid;
    writeFileSync(path.join(dataDir, 'postmaster.pid'), `${deadPid}\n${dataDir}\n`);

    const second = await startEmbeddedPostgres({ dataDir, port });
    try {
      const rows = await query<{ note: string }>(second.url, 'SELECT note FROM survivor WHERE id = 1');
      assert.deepEqual(rows, [{ note: 'written before the restart' }]);
    } finally {
      await second.stop();
    }
  });

  test('a missing temporal binary points at `make install`', async () => {
    await assert.rejects(
      startTemporalDevServer({ binary: '/nonexistent/temporal', port: 1, uiPort: 2, namespace: 'default' }),
      /make install/,
    );
  });
});
