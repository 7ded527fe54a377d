import { readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { KaizenConfig } from '../config.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { isPostgresProcess, startEmbeddedPostgres } from './embedded-postgres.js';
import {
  devStackFile,
  isAlive,
  processName,
  readRecord,
  readRunningStack,
  type DevStackInfo,
} from './dev-stack-record.js';
import { findFreePort } from './ports.js';
import { startTemporalDevServer } from './temporal-dev-server.js';

export { devStackFile, readRunningStack, type DevStackInfo } from './dev-stack-record.js';

export interface DevStack {
  databaseUrl: string;
  temporalAddress: string;
  /** Only when this stack started the Temporal dev server. */
  temporalUiUrl?: string;
  namespace: string;
  /** Stops what this stack started, in reverse order; idempotent. */
  stop(): Promise<void>;
}

export interface DevStackOptions {
  log?: (line: string) => void;
  /** Tests: in-memory Temporal, a throw-away Postgres data dir, OS-assigned ports. */
  ephemeral?: boolean;
}

/**
 * The process that wrote dev.json died without stopping its servers (kill -9, OOM): Postgres would
 * still hold the data dir and the Temporal server the SQLite file. Shut them down before reusing
 * them. Names are checked so a recycled pid is never signalled.
 */
async function stopOrphans(home: string, log: (line: string) => void): Promise<void> {
  const stale = readRecord(home);
  if (!stale || isAlive(stale.pid)) return;
  const { postgres, temporal } = stale.processes;
  const orphans: number[] = [];
  if (postgres && isPostgresProcess(postgres)) {
    process.kill(postgres, 'SIGINT'); // Postgres' fast shutdown.
    orphans.push(postgres);
  }
  if (temporal && processName(temporal) === 'temporal') {
    process.kill(-temporal, 'SIGTERM'); // Its whole process group.
    orphans.push(temporal);
  }
  for (const pid of orphans) {
    log(`[dev-stack] stopping pid ${pid}, left running by dead dev stack pid ${stale.pid}`);
    const deadline = Date.now() + 30_000;
    while (isAlive(pid)) {
      if (Date.now() > deadline)
        throw new Error(`pid ${pid} (left by a dead dev stack) did not stop: kill it`);
      await sleep(100);
    }
  }
  rmSync(devStackFile(home), { force: true });
}

/**
 * Uses DATABASE_URL / TEMPORAL_ADDRESS when configured and starts embedded PostgreSQL and the
 * Temporal dev server for whatever is not. Both start concurrently: they are independent and
 * each takes a second or more.
 */
export async function startDevStack(config: KaizenConfig, options: DevStackOptions = {}): Promise<DevStack> {
  const log = options.log ?? (() => undefined);
  const ephemeral = options.ephemeral ?? false;
  const namespace = config.temporal.namespace;
  const startsSomething = !config.databaseUrl || !config.temporal.address;
  if (startsSomething && !ephemeral) {
    const running = readRunningStack(config.home);
    if (running) {
      throw new Error(
        `a dev stack is already running (pid ${running.pid}, see ${devStackFile(config.home)}): use it, or stop it first`,
      );
    }
  }
  await fs.mkdir(config.home, { recursive: true });
  if (!ephemeral) await stopOrphans(config.home, log);

  // Stop actions, run last-first. Pushed only once the thing they undo exists.
  const undo: Array<{ what: string; run: () => Promise<void> }> = [];
  const stopAll = async () => {
    for (let step = undo.pop(); step; step = undo.pop()) {
      await step
        .run()
        .catch((err: Error) => log(`[dev-stack] stopping ${step?.what} failed: ${err.message}`));
    }
  };

  const processes: DevStackInfo['processes'] = {};
  const startPostgres = async (): Promise<string> => {
    if (config.databaseUrl) return config.databaseUrl;
    let dataDir = path.join(config.home, 'pg');
    if (ephemeral) {
      const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'kaizen-pg-'));
      // Also on exit: a signal handler elsewhere (embedded-postgres registers one) may exit first.
      const removeScratch = () => rmSync(scratch, { recursive: true, force: true });
      process.on('exit', removeScratch);
      undo.push({
        what: 'scratch data dir',
        run: async () => {
          process.removeListener('exit', removeScratch);
          removeScratch();
        },
      });
      // mkdtemp makes it 0700; as root, postgres runs as the `postgres` user and must get in.
      await fs.chmod(scratch, 0o755);
      dataDir = path.join(scratch, 'data');
    }
    const started = Date.now();
    const port = await findFreePort(ephemeral ? 0 : config.embeddedPgPort);
    const pg = await startEmbeddedPostgres({ dataDir, port, log: (l) => log(`[postgres] ${l}`) });
    undo.push({ what: 'postgres', run: pg.stop });
    processes.postgres = pg.pid;
    log(`[dev-stack] postgres ready on 127.0.0.1:${port} in ${Date.now() - started} ms (data ${dataDir})`);
    return pg.url;
  };

  const startTemporal = async (): Promise<{ address: string; uiUrl?: string }> => {
    if (config.temporal.address) return { address: config.temporal.address };
    const started = Date.now();
    const port = await findFreePort(ephemeral ? 0 : config.temporal.devPort);
    const uiPort = await findFreePort(ephemeral ? 0 : config.temporal.devUiPort);
    const server = await startTemporalDevServer({
      binary: config.temporal.binary,
      dbFile: ephemeral ? undefined : path.join(config.home, 'temporal.db'),
      port,
      uiPort,
      namespace,
      log: (l) => log(`[temporal] ${l}`),
    });
    undo.push({ what: 'temporal', run: server.stop });
    processes.temporal = server.pid;
    log(`[dev-stack] temporal ready on ${server.address} in ${Date.now() - started} ms (UI ${server.uiUrl})`);
    return { address: server.address, uiUrl: server.uiUrl };
  };

  const [pgResult, temporalResult] = await Promise.allSettled([startPostgres(), startTemporal()]);
  if (pgResult.status === 'rejected' || temporalResult.status === 'rejected') {
    await stopAll();
    const failed = [pgResult, temporalResult].filter((r) => r.status === 'rejected');
    throw (failed[0] as PromiseRejectedResult).reason;
  }

  const info: DevStackInfo = {
    pid: process.pid,
    databaseUrl: pgResult.value,
    temporalAddress: temporalResult.value.address,
    temporalUiUrl: temporalResult.value.uiUrl,
    namespace,
    startedAt: new Date().toISOString(),
    processes,
  };
  const file = devStackFile(config.home);
  await writeFileAtomic(file, JSON.stringify(info, null, 2) + '\n');
  // Synchronous, so a crash or process.exit() does not leave a record pointing at nothing.
  const removeRecord = () => removeOwnRecord(file);
  process.on('exit', removeRecord);
  undo.push({
    what: 'dev.json',
    run: async () => {
      process.removeListener('exit', removeRecord);
      removeRecord();
    },
  });

  let stopping: Promise<void> | undefined;
  const { pid: _pid, startedAt: _startedAt, processes: _processes, ...urls } = info;
  return { ...urls, stop: () => (stopping ??= stopAll()) };
}

async function writeFileAtomic(file: string, contents: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, contents);
  await fs.rename(tmp, file);
}

/** Removes dev.json only if this process wrote it (another stack may have replaced it). */
function removeOwnRecord(file: string): void {
  try {
    const recorded = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown };
    if (recorded.pid === process.pid) rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}
