import { createRequire } from 'node:module';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import type { Worker, WorkerOptions } from '@temporalio/worker';
import type { KaizenConfig } from '../config.js';
import { loadCaCertificates, loadCertificatePair } from './tls.js';

const require = createRequire(import.meta.url);
/** The workflows Temporal bundles: the sources, or in a compiled build (dist/) their JavaScript. */
export const WORKFLOWS_PATH = require.resolve(
  import.meta.url.endsWith('.ts') ? '../workflows/index.ts' : '../workflows/index.js',
);

/**
 * TLS to Temporal: a client certificate (TEMPORAL_TLS_CERT with TEMPORAL_TLS_KEY, both or neither), a
 * private CA to trust (TEMPORAL_TLS_CA) and the name its certificate carries when the address's host is
 * not it (TEMPORAL_TLS_SERVER_NAME). Any of them, or an API key, turns TLS on; without them the
 * connection is plain (the dev server). The files are read and checked here: a wrong one is a
 * TlsConfigError naming it.
 */
export function temporalTls(temporal: KaizenConfig['temporal']): TLSConfig | undefined {
  const pair = loadCertificatePair(
    { option: 'TEMPORAL_TLS_CERT', file: temporal.tlsCert },
    { option: 'TEMPORAL_TLS_KEY', file: temporal.tlsKey },
  );
  const ca = loadCaCertificates({ option: 'TEMPORAL_TLS_CA', file: temporal.tlsCa });
  if (!pair && !ca && !temporal.tlsServerName && !temporal.apiKey) return undefined;
  return {
    ...(pair && { clientCertPair: { crt: pair.cert, key: pair.key } }),
    ...(ca && { serverRootCACertificate: ca }),
    ...(temporal.tlsServerName && { serverNameOverride: temporal.tlsServerName }),
  };
}

/** What the client (Connection) and the worker (NativeConnection) connect with. */
export function connectionOptions(temporal: KaizenConfig['temporal'], address: string) {
  return { address, tls: temporalTls(temporal), apiKey: temporal.apiKey };
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
