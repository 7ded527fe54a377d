import { createWorkerActivities } from '../../activities/index.js';
import type { KaizenConfig } from '../../config.js';
import { TASK_QUEUES } from '../../constants.js';
import { connectDatabase, runMigrations } from '../../db/client.js';
import { readRunningStack } from '../../runtime/dev-stack.js';
import { startWorker } from '../../runtime/temporal.js';
import { installCliLogging } from '../../runtime/logging.js';

/**
 * The queues a worker may poll: the configured one (KAIZEN_TASK_QUEUE, where the CLI starts
 * workflows) and the GPU queue training activities are sent to. Anything else would poll a queue no
 * workflow uses: a typo, refused.
 */
export function checkWorkerQueues(config: KaizenConfig, queues: string[]): string[] {
  const known = [...new Set([config.taskQueue, TASK_QUEUES.main, TASK_QUEUES.gpu])];
  if (queues.length === 0) throw new Error(`no task queue given: expected some of ${known.join(', ')}`);
  for (const q of queues)
    if (!known.includes(q)) throw new Error(`unknown task queue "${q}": expected one of ${known.join(', ')}`);
  return queues;
}

/** `kaizen worker --queues kaizen,kaizen-gpu`: one Temporal worker per queue, same activities. */
export async function workerCommand(config: KaizenConfig, queues: string[]): Promise<void> {
  checkWorkerQueues(config, queues);
  await installCliLogging();
  const running = readRunningStack(config.home);
  const databaseUrl = config.databaseUrl ?? running?.databaseUrl;
  const address = config.temporal.address ?? running?.temporalAddress;
  if (!databaseUrl || !address) {
    throw new Error(
      'no Postgres/Temporal to work for: set DATABASE_URL and TEMPORAL_ADDRESS, or start `kaizen dev`',
    );
  }
  const database = connectDatabase(databaseUrl);
  await runMigrations(database);
  const activities = createWorkerActivities(database, config);
  const workers = await Promise.all(
    queues.map((taskQueue) => startWorker(config.temporal, address, { taskQueue, activities })),
  );
  console.log(`worker polling ${queues.join(', ')} on ${address}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    Promise.race(workers.map((w) => w.done)).then(resolve, resolve);
  });
  await Promise.all(workers.map((w) => w.shutdown()));
  await database.close();
}
