import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ActivityDeps } from '../../activities/index.js';
import { connectDatabase, runMigrations, type Database } from '../../db/client.js';
import { createFeatureStore, type FeatureStore } from '../../feature-store/index.js';
import { runMaterialization, type MaterializeRequest } from '../../runtime/materialization-runner.js';
import { createTestDatabase } from './database.js';
import { startTestWorker, type TestWorker } from './temporal.js';

export interface Integration {
  /** Temp directory that relative source paths resolve against. */
  dataRoot: string;
  /** URL of this environment's database (for CLI commands and servers started by a test). */
  databaseUrl: string;
  database: Database;
  /** The feature store the worker's activities use (same data root and artifacts directory). */
  store: FeatureStore;
  worker: TestWorker;
  /** Runs the materialization workflow on this environment's worker. */
  materialize(request: MaterializeRequest): ReturnType<typeof runMaterialization>;
  close(): Promise<void>;
}

/**
 * A fresh database on the test Postgres (migrated) and a worker on a fresh task queue of the test
 * Temporal server, with `files` written into a temp data root. Extra activity deps (fault hooks, a
 * fixed clock) pass through to createActivities.
 */
export async function startIntegration(
  opts: {
    files?: Record<string, string | Buffer>;
    activities?: Partial<Omit<ActivityDeps, 'database' | 'store' | 'artifactsDir'>>;
  } = {},
): Promise<Integration> {
  const dataRoot = mkdtempSync(path.join(os.tmpdir(), 'kaizen-test-'));
  for (const [name, content] of Object.entries(opts.files ?? {}))
    writeFileSync(path.join(dataRoot, name), content);
  const testDb = await createTestDatabase();
  const database = connectDatabase(testDb.url);
  await runMigrations(database);
  const artifactsDir = path.join(dataRoot, 'artifacts');
  const store = createFeatureStore({ db: database.db, dataRoot, artifactsDir, now: opts.activities?.now });
  const worker = await startTestWorker({ database, store, artifactsDir, ...opts.activities });
  return {
    dataRoot,
    databaseUrl: testDb.url,
    database,
    store,
    worker,
    materialize: (request) =>
      runMaterialization({ store, temporal: worker.client, taskQueue: worker.taskQueue }, request),
    async close() {
      await worker.shutdown();
      await database.close();
      await testDb.drop();
      rmSync(dataRoot, { recursive: true, force: true });
    },
  };
}
