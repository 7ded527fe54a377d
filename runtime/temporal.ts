import { createRequire } from 'node:module';
import { Client, Connection } from '@temporalio/client';
import type { Worker, WorkerOptions } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import type { KaizenConfig } from '../config.js';

const require = createRequire(import.meta.url);
/** The workflows Temporal bundles: the sources, or in a compiled build (dist/) their JavaScript. */
export const WORKFLOWS_PATH = require.resolve(
  import.meta.url.endsWith('.ts') ? '../workflows/index.ts' : '../workflows/index.js',
);

function connectionOptions(temporal: KaizenConfig['temporal'], address: string) {
  const tls =
    temporal.tlsCert && temporal.tlsKey
      ? { clientCertPair: { crt: readFileSync(temporal.tlsCert), key: readFileSync(temporal.tlsKey) } }
      : temporal.apiKey
        ? true
        : undefined;
  return { address, tls, apiKey: temporal.apiKey };
}

export async function connectClient(temporal: KaizenConfig['temporal'], address: string): Promise<Client> {
  const connection = await Connection.connect(connectionOptions(temporal, address));
  return new Client({ connection, namespace: temporal.namespace });
}

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker has stopped (after shutdown() or a fatal error). */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Starts a worker on one task queue; workflows are bundled from source unless a bundle is given. The
 * worker SDK is imported here: a process that only starts workflows (the CLI) never loads it.
 */
export async function startWorker(
  temporal: KaizenConfig['temporal'],
  address: string,
  options: Pick<
    WorkerOptions,
    'taskQueue' | 'activities' | 'workflowBundle' | 'maxConcurrentActivityTaskExecutions'
  >,
): Promise<RunningWorker> {
  const { NativeConnection, Worker } = await import('@temporalio/worker');
  const connection = await NativeConnection.connect(connectionOptions(temporal, address));
  const worker = await Worker.create({
    connection,
    namespace: temporal.namespace,
    ...(options.workflowBundle ? {} : { workflowsPath: WORKFLOWS_PATH }),
    ...options,
  });
  const done = worker.run().finally(() => connection.close());
  return {
    worker,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
