import type { Client } from '@temporalio/client';
import type { KaizenConfig } from '../config.js';
import type { Database } from '../db/client.js';
import type { FeatureStore } from '../feature-store/index.js';
import type { DevStack } from '../runtime/dev-stack.js';
import { readRunningStack } from '../runtime/dev-stack-record.js';
import { connectClient, type RunningWorker } from '../runtime/temporal.js';

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

/** Postgres and Temporal as configured (DATABASE_URL, TEMPORAL_ADDRESS), else a running `kaizen dev`'s. */
function locateStack(config: KaizenConfig) {
  const running = readRunningStack(config.home);
  return {
    databaseUrl: config.databaseUrl ?? running?.databaseUrl,
    temporalAddress: config.temporal.address ?? running?.temporalAddress,
    temporalUiUrl: running?.temporalUiUrl,
  };
}

/**
 * Resolves where Postgres and Temporal are: configured (DATABASE_URL, TEMPORAL_ADDRESS), a running
 * `kaizen dev`, or an embedded stack started just for this command (and stopped afterwards).
 * Migrations and the Temporal connection proceed side by side. What only some commands use (the
 * stack, a worker and its activities) is imported when used: start-up time is every command's.
 */
export async function withRuntime<T>(
  config: KaizenConfig,
  needs: RuntimeNeeds,
  body: (ctx: RuntimeContext) => Promise<T>,
): Promise<T> {
  const [{ connectDatabase, runMigrations }, { createFeatureStore }] = await Promise.all([
    import('../db/client.js'),
    import('../feature-store/index.js'),
  ]);
  let { databaseUrl, temporalAddress, temporalUiUrl } = locateStack(config);
  let stack: DevStack | undefined;
  if (!databaseUrl || (needs.temporal && !temporalAddress)) {
    const { startDevStack } = await import('../runtime/dev-stack.js');
    stack = await startDevStack(config, { log: needs.log });
    databaseUrl = stack.databaseUrl;
    temporalAddress = stack.temporalAddress;
    temporalUiUrl = stack.temporalUiUrl;
  }
  const database = connectDatabase(databaseUrl);
  let worker: RunningWorker | undefined;
  try {
    const [temporal] = await Promise.all([
      needs.temporal ? connectClient(config.temporal, temporalAddress!) : undefined,
      runMigrations(database),
    ]);
    // With a running `kaizen dev` or a configured cluster, workers run elsewhere.
    if (needs.worker && stack) worker = await startCommandWorker(config, temporalAddress!, database);
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

/** A worker in this process, for the embedded stack a command started. */
async function startCommandWorker(
  config: KaizenConfig,
  temporalAddress: string,
  database: Database,
): Promise<RunningWorker> {
  const [{ installCliLogging }, { createWorkerActivities }, { startWorker }] = await Promise.all([
    import('../runtime/logging.js'),
    import('../activities/index.js'),
    import('../runtime/temporal.js'),
  ]);
  await installCliLogging();
  return startWorker(config.temporal, temporalAddress, {
    taskQueue: config.taskQueue,
    activities: createWorkerActivities(database, config),
  });
}

export interface TemporalContext {
  config: KaizenConfig;
  temporal: Client;
  temporalUiUrl?: string;
}

/**
 * For commands that only start workflows and wait for them: with Postgres and Temporal configured
 * or a running `kaizen dev`, only a Temporal client — no database connection, since the workers
 * that run the activities do the database work (and ran the migrations when they started). Without
 * them, as withRuntime: an embedded stack and a worker in this process for the command.
 */
export async function withTemporal<T>(
  config: KaizenConfig,
  needs: Pick<RuntimeNeeds, 'worker' | 'log'>,
  body: (ctx: TemporalContext) => Promise<T>,
): Promise<T> {
  const { databaseUrl, temporalAddress, temporalUiUrl } = locateStack(config);
  if (!databaseUrl || !temporalAddress) {
    return withRuntime(config, { ...needs, temporal: true }, (ctx) =>
      body({ config, temporal: ctx.temporal!, temporalUiUrl: ctx.temporalUiUrl }),
    );
  }
  const temporal = await connectClient(config.temporal, temporalAddress);
  try {
    return await body({ config, temporal, temporalUiUrl });
  } finally {
    await temporal.connection.close();
  }
}
