import type { Client } from '@temporalio/client';
import { createWorkerActivities } from '../activities/index.js';
import type { KaizenConfig } from '../config.js';
import { connectDatabase, runMigrations, type Database } from '../db/client.js';
import { createFeatureStore, type FeatureStore } from '../feature-store/index.js';
import { readRunningStack, startDevStack, type DevStack } from '../runtime/dev-stack.js';
import { connectClient, startWorker, type RunningWorker } from '../runtime/temporal.js';

export interface RuntimeContext {
  config: KaizenConfig;
  database: Database;
  /** The feature store over `database` and the configured data root and artifacts directory. */
  store: FeatureStore;
  temporal?: Client;
  temporalUiUrl?: string;
  /** Set when this process started an embedded stack for the duration of the command. */
  stack?: DevStack;
}

export interface RuntimeNeeds {
  temporal?: boolean;
  /** Run a worker in this process (when no separate worker can be assumed: embedded stack). */
  worker?: boolean;
  log?: (line: string) => void;
}

/**
 * Resolves where Postgres and Temporal are: configured (DATABASE_URL, TEMPORAL_ADDRESS), a running
 * `kaizen dev`, or an embedded stack started just for this command (and stopped afterwards).
 */
export async function withRuntime<T>(
  config: KaizenConfig,
  needs: RuntimeNeeds,
  body: (ctx: RuntimeContext) => Promise<T>,
): Promise<T> {
  const running = readRunningStack(config.home);
  let stack: DevStack | undefined;
  let databaseUrl = config.databaseUrl ?? running?.databaseUrl;
  let temporalAddress = config.temporal.address ?? running?.temporalAddress;
  let temporalUiUrl = running?.temporalUiUrl;
  if (!databaseUrl || (needs.temporal && !temporalAddress)) {
    stack = await startDevStack(config, { log: needs.log });
    databaseUrl = stack.databaseUrl;
    temporalAddress = stack.temporalAddress;
    temporalUiUrl = stack.temporalUiUrl;
  }
  const database = connectDatabase(databaseUrl);
  let worker: RunningWorker | undefined;
  try {
    await runMigrations(database);
    const temporal = needs.temporal ? await connectClient(config.temporal, temporalAddress!) : undefined;
    // With a running `kaizen dev` or a configured cluster, workers run elsewhere.
    if (needs.worker && stack) {
      worker = await startWorker(config.temporal, temporalAddress!, {
        taskQueue: config.taskQueue,
        activities: createWorkerActivities(database, config),
      });
    }
    const store = createFeatureStore({
      db: database.db,
      dataRoot: config.dataRoot,
      artifactsDir: config.artifactsDir,
    });
    return await body({ config, database, store, temporal, temporalUiUrl, stack });
  } finally {
    await worker?.shutdown();
    await database.close();
    await stack?.stop();
  }
}
