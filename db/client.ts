import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import * as schema from './schema.js';

/** Drizzle over the registry schema; `$client` is the pool (bulk COPY paths use it directly). */
export type Db = NodePgDatabase<typeof schema> & { $client: pg.Pool };

export interface Database {
  pool: pg.Pool;
  db: Db;
  close(): Promise<void>;
}

const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../migrations');
/** Arbitrary constant: serializes concurrent start-ups that all try to migrate. */
export const MIGRATION_LOCK_KEY = 0x6b61697a;

// Return int8 as JS numbers and timestamptz as Date (pg default); counts never exceed 2^53 here.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** Error codes of a database that is away: refused, reset or timed out, shutting down or starting up. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, recovering)
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

/**
 * Whether `error` (or a cause of it) says the database is unreachable rather than that a query was
 * wrong: callers answer "unavailable, retry" instead of failing the request for good.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    // node-postgres's own words for a connection lost mid-query or never made in time.
    if (/Connection terminated|timeout exceeded when trying to connect/i.test(e.message)) return true;
    if (e instanceof AggregateError && e.errors.some(isDatabaseUnavailable)) return true;
  }
  return false;
}

export function connectDatabase(url: string, opts: { max?: number } = {}): Database {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10 });
  // An idle client's error (e.g. Postgres restarted) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return { pool, db: drizzle(pool, { schema }), close: () => pool.end() };
}

/**
 * Applies the drizzle-kit migrations in migrations/; idempotent and safe to run from many processes at
 * once. Every process that uses the database runs it at start-up, so it first checks cheaply — one
 * query, no lock — whether there is anything to apply: drizzle applies the migrations created after
 * the last one recorded in its table (`drizzle.__drizzle_migrations`), so with the journal's last
 * migration recorded there is nothing to do but the labels' back-fill below.
 */
export async function runMigrations(database: Database): Promise<void> {
  if (!(await migrationsPending(database.pool))) return backfillFeedback(database.pool);
  const lockClient = await database.pool.connect();
  try {
    await lockClient.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await migrate(database.db, { migrationsFolder: MIGRATIONS_DIR });
    await backfillFeedback(database.pool);
  } finally {
    await lockClient.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    lockClient.release();
  }
}

/** Whether migrations/ holds a migration newer than the last one applied (drizzle's own test). */
async function migrationsPending(pool: pg.Pool): Promise<boolean> {
  const latest = Math.max(
    ...readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR }).map((m) => m.folderMillis),
  );
  try {
    const { rows } = await pool.query<{ created_at: number | null }>(
      'SELECT max(created_at) AS created_at FROM drizzle.__drizzle_migrations',
    );
    return rows[0].created_at === null || rows[0].created_at < latest;
  } catch (error) {
    // No migrations table (42P01) or schema (3F000) yet: a new database.
    const code = (error as { code?: string }).code;
    if (code === '42P01' || code === '3F000') return true;
    throw error;
  }
}

/**
 * Labels written before they kept their prediction's model and event time (migration 0011) get them
 * once, so that windows read them by range (the partial index finds any left: none, mostly).
 */
async function backfillFeedback(pool: pg.Pool): Promise<void> {
  await pool.query(
    `UPDATE kaizen.prediction_feedback f SET model_name = p.model_name, event_ts = p.event_ts
     FROM kaizen.predictions p WHERE f.model_name IS NULL AND p.id = f.prediction_id`,
  );
}

/**
 * Holds one pooled connection for `work`, then releases it — discarded when `work` called `discard`
 * or the connection reported an error while held: held between queries, a connection that dies
 * (Postgres restarted) must fail the work, not the process.
 */
async function holdClient<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient, discard: (error: Error) => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const discard = (error: Error) => (broken = error);
  client.on('error', discard);
  try {
    return await work(client, discard);
  } finally {
    client.off('error', discard);
    client.release(broken);
  }
}

/**
 * Runs `work` on one pooled connection (COPY streams need the client itself). A connection whose
 * work failed is discarded, not reused: a COPY abandoned mid-stream leaves it unusable.
 */
export function withPooledClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return holdClient(pool, async (client, discard) => {
    try {
      return await work(client);
    } catch (error) {
      discard(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  });
}

/**
 * For the bulk reads of a transaction (then `RESET enable_nestloop`): no nested-loop joins. A
 * monitor window's newest days lie past the column statistics until the next autoanalyze, so the
 * planner expects a handful of rows there and loops over a whole table per row — minutes, where a
 * hash join takes a fraction of a second (seen on the replay).
 */
export const NO_NESTED_LOOPS = 'SET LOCAL enable_nestloop = off';

/**
 * Runs `work` in a transaction on one pooled connection: committed when it returns; when it throws,
 * the connection is dropped, which rolls the transaction back (the error stays the cause) — a
 * ROLLBACK would queue behind a COPY whose stream stopped being read, and wait for ever.
 */
export function inClientTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  begin = 'BEGIN',
): Promise<T> {
  return holdClient(pool, async (client, discard) => {
    try {
      await client.query(begin);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      discard(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  });
}
