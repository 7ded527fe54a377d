/** The stack every benchmark runs on: ephemeral Postgres + Temporal (or the configured ones) and a worker. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { createWorkerActivities } from '../activities/index.js';
import { loadConfig, type KaizenConfig } from '../config.js';
import { connectDatabase, runMigrations, type Database } from '../db/client.js';
import { createFeatureStore, type FeatureStore } from '../feature-store/index.js';
import { startDevStack } from '../runtime/dev-stack.js';
import { installCliLogging } from '../runtime/logging.js';
import { connectClient, startWorker } from '../runtime/temporal.js';

export interface BenchStack {
  config: KaizenConfig;
  /** For processes the benchmark starts (e.g. a server under load, a CLI command). */
  databaseUrl: string;
  temporalAddress: string;
  database: Database;
  store: FeatureStore;
  temporal: Client;
  /** Scratch directory of this run. */
  work: string;
}

/** Progress on stderr (stdout is for the final JSON line); the stack's own logs are dropped. */
export const log = (line: string) => {
  if (!line.startsWith('[postgres]') && !line.startsWith('[temporal]')) process.stderr.write(`${line}\n`);
};

export const round = (x: number) => Math.round(x * 1000) / 1000;

/** `env` overrides the environment the stack's config is read from (e.g. its KAIZEN_DATA_ROOT). */
export async function withBenchStack(
  name: string,
  body: (stack: BenchStack) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  await installCliLogging();
  const work = mkdtempSync(path.join(os.tmpdir(), `kaizen-bench-${name}-`));
  const config = loadConfig({
    ...process.env,
    ...env,
    KAIZEN_HOME: process.env.KAIZEN_HOME ?? work,
    KAIZEN_ARTIFACTS_DIR: path.join(work, 'artifacts'),
  });
  const stack = await startDevStack(config, { ephemeral: !config.databaseUrl, log });
  const database = connectDatabase(stack.databaseUrl);
  await runMigrations(database);
  const worker = await startWorker(config.temporal, stack.temporalAddress, {
    taskQueue: config.taskQueue,
    activities: createWorkerActivities(database, config),
  });
  const temporal = await connectClient(config.temporal, stack.temporalAddress);
  try {
    const store = createFeatureStore({
      db: database.db,
      dataRoot: config.dataRoot,
      artifactsDir: config.artifactsDir,
    });
    await body({
      config,
      databaseUrl: stack.databaseUrl,
      temporalAddress: stack.temporalAddress,
      database,
      store,
      temporal,
      work,
    });
  } finally {
    await worker.shutdown();
    await temporal.connection.close();
    await database.close();
    await stack.stop();
    // A run's scratch (training sets, models, scores) is gigabytes: a run of several scenarios would fill the disk.
    rmSync(work, { recursive: true, force: true });
  }
}

export function runBench(main: () => Promise<void>): void {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
