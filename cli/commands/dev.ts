import { createWorkerActivities } from '../../activities/index.js';
import type { KaizenConfig } from '../../config.js';
import { connectDatabase, runMigrations } from '../../db/client.js';
import { startDevStack } from '../../runtime/dev-stack.js';
import { installCliLogging, stackLog } from '../../runtime/logging.js';
import { startWorker } from '../../runtime/temporal.js';

/** `kaizen dev`: embedded Postgres + Temporal dev server + a worker, until Ctrl-C. */
export async function devCommand(config: KaizenConfig): Promise<void> {
  await installCliLogging();
  const stack = await startDevStack(config, { log: stackLog });
  const database = connectDatabase(stack.databaseUrl);
  await runMigrations(database);
  const worker = await startWorker(config.temporal, stack.temporalAddress, {
    taskQueue: config.taskQueue,
    activities: createWorkerActivities(database, config),
  });
  console.log(`Postgres     ${stack.databaseUrl}`);
  console.log(`Temporal     ${stack.temporalAddress} (namespace ${stack.namespace})`);
  console.log(`Temporal UI  ${stack.temporalUiUrl ?? '(external cluster)'}`);
  console.log(`Worker       task queue ${config.taskQueue}`);
  console.log('Press Ctrl-C to stop.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    worker.done.then(resolve, resolve);
  });
  console.log('\nstopping…');
  await worker.shutdown();
  await database.close();
  await stack.stop();
}
