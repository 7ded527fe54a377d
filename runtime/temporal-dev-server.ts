import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../constants.js';

export interface TemporalDevServerOptions {
  /** Path to the `temporal` CLI (`make install` puts it at .tools/venv/bin/temporal). */
  binary: string;
  /** SQLite file for persistent state; undefined = in-memory (tests). */
  dbFile?: string;
  port: number;
  uiPort: number;
  namespace: string;
  log?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface RunningTemporalDevServer {
  address: string;
  uiUrl: string;
  /** Leader of the server's process group. */
  pid: number;
  /** SIGTERM to the process group, SIGKILL if it lingers; idempotent. */
  stop(): Promise<void>;
}

const TAIL_LINES = 40;
const STOP_GRACE_MS = 10_000;

export async function startTemporalDevServer(
  options: TemporalDevServerOptions,
): Promise<RunningTemporalDevServer> {
  const { binary, dbFile, port, uiPort, namespace } = options;
  try {
    accessSync(binary, fsConstants.X_OK);
  } catch {
    throw new Error(`Temporal CLI not found at ${binary}: run \`make install\` (or set KAIZEN_TEMPORAL_BIN)`);
  }

  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
  ];
  args.push('--log-level', 'warn');
  if (dbFile) {
    mkdirSync(path.dirname(dbFile), { recursive: true });
    args.push('--db-filename', dbFile);
  }
  // "default" always exists; naming it again is redundant.
  if (namespace !== 'default') args.push('--namespace', namespace);
  // Registered on every namespace the dev server creates, so workflows can set them straight away.
  for (const name of Object.values(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=Keyword`);

  // Own process group (detached), so stop() reaches the whole tree and a terminal Ctrl-C aimed at
  // `kaizen dev` is handled by our shutdown rather than racing it.
  const child = spawn(binary, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const onOutput = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      options.log?.(line);
    }
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);

  const exited = new Promise<string>((resolve) => {
    child.once('error', (err) => resolve(`could not be started: ${err.message}`));
    child.once('exit', (code, signal) => resolve(`exited with ${signal ?? `code ${code}`}`));
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  // If this process ends without stop() (uncaught error, process.exit in a signal hook), the detached
  // server would outlive it: ask it to shut down. Only synchronous work is possible in 'exit'.
  const onExit = () => killGroup('SIGTERM');
  process.on('exit', onExit);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      process.removeListener('exit', onExit);
      if (hasExited) return;
      killGroup('SIGTERM');
      // Unref'd timer: the child's own handle keeps us alive while it shuts down, the timer must not.
      const graceful = await Promise.race([
        exited.then(() => true),
        sleep(STOP_GRACE_MS, false, { ref: false }),
      ]);
      if (!graceful) {
        killGroup('SIGKILL');
        await exited;
      }
    })());

  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  while (!(await isServing(address, namespace))) {
    if (hasExited || Date.now() > deadline) {
      const reason = hasExited ? await exited : `not ready after ${options.startTimeoutMs ?? 60_000} ms`;
      await stop();
      throw new Error(
        `Temporal dev server ${reason} (${binary} ${args.join(' ')}); last output:\n${tail.join('\n')}`,
      );
    }
    await sleep(100);
  }
  return { address, uiUrl: `http://127.0.0.1:${uiPort}`, pid: child.pid ?? 0, stop };
}

/** Ready = the frontend answers and our namespace exists (it is created during start-up). */
async function isServing(address: string, namespace: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 1000 });
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}
