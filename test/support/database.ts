import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestDatabase {
  /** Connection URL of the fresh, empty database. */
  url: string;
  name: string;
  /** Drops it, disconnecting anyone still connected; idempotent. */
  drop(): Promise<void>;
}

function serverUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) {
    throw new Error(
      'DATABASE_URL is not set: run tests with `make test` (or node --import tsx test/support/run-tests.ts)',
    );
  }
  return url;
}

async function onServer(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A uniquely named database on the test server, so test files never see each other's tables
 * (and a file that forgets to clean up cannot break the next one).
 */
export async function createTestDatabase(prefix = 'kaizen_test'): Promise<TestDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const quoted = `"${name.replaceAll('"', '""')}"`;
  await onServer(`CREATE DATABASE ${quoted}`);
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  let dropping: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    drop: () => (dropping ??= onServer(`DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`)),
  };
}
