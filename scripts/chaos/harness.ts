/**
 * The chaos harness (`npm run chaos`, and test/chaos.test.ts at CI size): the same pipeline on the
 * flights sample run twice on one stack (embedded Postgres, the Temporal dev server) by a worker in
 * its own process — once left alone, once killed with SIGKILL at random moments and restarted — each
 * on its own database, artifacts directory and task queue. The pipeline: every flights view
 * materialized (weekly chunks), a two-shard training set, the training pipeline (train, evaluate,
 * gates, promotion). Then the two runs' stores, training set and registry are compared by checksum:
 * a durable, exactly-once pipeline ends the same however often its worker died.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../../config.js';
import { connectDatabase, runMigrations } from '../../db/client.js';
import { airport, departureTime, flightsDefinitions, route } from '../../examples/flights/features.js';
import { FLIGHT_SPINE_KEYS, flightFeatureRefs } from '../../examples/flights/training-set.js';
import { mulberry32 } from '../../models/prng.js';
import { createFeatureStore, type FeatureStore } from '../../feature-store/index.js';
import { startDevStack } from '../../runtime/dev-stack.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../../runtime/embedded-postgres.js';
import { findFreePort } from '../../runtime/ports.js';
import { createApiKey } from '../../serving/api-keys.js';
import { closeServingDeps, createServingDeps } from '../../serving/app.js';
import { startServer } from '../../serving/server.js';
import { runMaterialization } from '../../runtime/materialization-runner.js';
import { connectClient } from '../../runtime/temporal.js';
import { runTrainingPipeline } from '../../runtime/training-pipeline-runner.js';
import {
  SAMPLE_FLIGHT_VIEWS,
  writeFlightsSample,
  writeSampleSpine,
  type FlightsSample,
} from '../../test/support/flights-sample.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DAY = 86_400_000;
const JAN_1 = Date.UTC(2001, 0, 1);
const MODEL = 'chaos_delays';

export interface ChaosOptions {
  /** SIGKILLs of the worker during the chaos run. */
  kills: number;
  /** Times Postgres is killed (SIGKILL, every process) and restarted during the chaos run. */
  postgresOutages?: number;
  /** The sample's origin airports and its last day (exclusive): the size of the pipeline. */
  origins: string[];
  untilMs: number;
  seed: number;
  /** A run that has not finished by then fails, naming what it was doing (default 15 minutes). */
  runTimeoutMs?: number;
  log?: (line: string) => void;
}

/** What a run leaves behind, by checksum: equal between runs when nothing was lost or doubled. */
export type RunState = Record<string, string | number>;

export interface ChaosReport {
  kills: number;
  postgresOutages: number;
  /**
   * A server on the chaos run's database, asked for the model list every 100 ms throughout: answers
   * by HTTP status (200, or 503 while the database was away), and whether it answered 200 again after.
   */
  serving: { statuses: Record<string, number>; recovered: boolean };
  seconds: { clean: number; chaos: number };
  clean: RunState;
  chaos: RunState;
  /** Keys whose values differ between the runs. */
  mismatches: string[];
}

/** The spine: every sample flight after the first week, looked up at its departure. */
function writeSpine(sample: FlightsSample, file: string): void {
  const rows: number[] = [];
  for (let i = 0; i < sample.length; i++) if (sample.date[i] >= JAN_1 + 7 * DAY) rows.push(i);
  writeSampleSpine(sample, file, rows);
}

/** A worker process for one run (`kaizen worker` on its own database, artifacts and queue). */
class WorkerProcess {
  private child: ChildProcess | undefined;
  constructor(
    private readonly env: Record<string, string>,
    private readonly log: (line: string) => void,
  ) {}
  start(): void {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli/main.ts'), 'worker'], {
      cwd: ROOT,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // Drained (a full pipe would stall the worker), its tail kept for an exit nobody asked for.
    let tail = '';
    child.stderr!.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-4000)));
    child.once('exit', (code, signal) => {
      if (this.child === child && signal !== 'SIGKILL' && signal !== 'SIGTERM')
        this.log(`  worker ${child.pid} exited (${code ?? signal}):\n${tail}`);
    });
    this.child = child;
  }
  /** SIGKILL: no shutdown, no heartbeat, activities left mid-way. */
  kill(): void {
    this.child?.kill('SIGKILL');
    this.log(`  worker ${this.child?.pid} killed`);
    this.child = undefined;
  }
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** The pipeline of one run; returns when every workflow completed. */
async function pipeline(
  deps: { store: FeatureStore; temporal: Awaited<ReturnType<typeof connectClient>>; taskQueue: string },
  spinePath: string,
  out: string,
  untilMs: number,
): Promise<void> {
  await deps.store.apply({
    entities: [airport, route],
    views: SAMPLE_FLIGHT_VIEWS,
    onDemandViews: [departureTime],
    module: flightsDefinitions().module,
  });
  await Promise.all(
    SAMPLE_FLIGHT_VIEWS.map((view) =>
      runMaterialization(
        deps,
        view.transform ? { view: view.name, startMs: JAN_1, endMs: untilMs } : { view: view.name },
      ),
    ),
  );
  const { result } = await runTrainingPipeline(deps, {
    model: MODEL,
    trainingSet: {
      spine: {
        path: spinePath,
        entities: FLIGHT_SPINE_KEYS.entities,
        tsColumn: 'departure',
        labelColumn: 'delayed',
        request: { departure: 'departure' },
      },
      features: flightFeatureRefs(),
      out,
      shards: 2,
      split: { trainEndMs: untilMs - 10 * DAY, validEndMs: untilMs - 5 * DAY },
    },
    label: 'delayed',
    trainer: { kind: 'builtin', params: { kind: 'logistic', maxEpochs: 3 } },
  });
  if (result.status !== 'promoted') throw new Error(`expected the model promoted, got ${result.status}`);
}

/** Checksums of what a run stored: store tables, ledger, quarantine, training set, registry. */
async function runState(pool: pg.Pool, store: FeatureStore): Promise<RunState> {
  const state: RunState = {};
  const one = async (sql: string) => Object.values((await pool.query(sql)).rows[0] as object)[0] as string;
  for (const { name, version } of await store.listViews()) {
    const view = await store.getView(name, version);
    const columns = ['entity_key', 'event_ts', ...view.features.map((f) => `"${f.name}"`)].join(', ');
    for (const [kind, table] of [
      ['offline', `kaizen_offline."${view.tables.offline}"`],
      ['online', `kaizen_online."${view.tables.online}"`],
    ])
      state[`${name}@v${version}:${kind}`] = await one(
        `SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM (SELECT ${columns} FROM ${table}) t`,
      );
  }
  state.ledger = await one(
    `SELECT count(*) || ':' || sum(rows_written) || ':' || max(revision) FROM kaizen.materialization_chunks`,
  );
  state.quarantine = await one(
    `SELECT count(*) || ':' || coalesce(md5(string_agg(view_name || chunk_id || position || reason, ',' ORDER BY view_name, chunk_id, position)), '') FROM kaizen.quarantine`,
  );
  state.trainingSets = await one(
    `SELECT count(*) || ':' || string_agg(row_count || '/' || content_hash, ',' ORDER BY content_hash) FROM kaizen.training_sets`,
  );
  state.modelVersions = await one(
    `SELECT count(*) || ':' || string_agg(version || '/' || trainer, ',' ORDER BY version) FROM kaizen.model_versions`,
  );
  const artifacts = await pool.query<{ artifact_path: string }>(
    'SELECT artifact_path FROM kaizen.model_versions ORDER BY version',
  );
  state.modelArtifacts = artifacts.rows
    .map((r) => createHash('sha256').update(readFileSync(r.artifact_path)).digest('hex'))
    .join(',');
  state.aliases = await one(
    `SELECT string_agg(alias || '=' || version, ',' ORDER BY alias) FROM kaizen.model_aliases`,
  );
  state.aliasAudit = await one(
    `SELECT count(*) || ':' || string_agg(alias || ':' || coalesce(from_version, 0) || '>' || to_version, ',' ORDER BY id) FROM kaizen.model_alias_audit`,
  );
  return state;
}

/** Postgres killed outright (postmaster and backends, SIGKILL) and started again on its data directory. */
async function killAndRestart(
  running: RunningPostgres,
  log: (line: string) => void,
): Promise<RunningPostgres> {
  try {
    execFileSync('pkill', ['-KILL', '-P', String(running.pid)]);
  } catch {
    // no backends at that moment
  }
  process.kill(running.pid, 'SIGKILL');
  log(`  postgres ${running.pid} killed`);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  for (let attempt = 1; ; attempt++) {
    try {
      const restarted = await startEmbeddedPostgres({ dataDir: running.dataDir, port: running.port });
      log(`  postgres restarted (${restarted.pid})`);
      return restarted;
    } catch (error) {
      // The dead postmaster's shared memory is released a moment after its last backend exits.
      if (attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/** A server on `url` asked for the model list every 100 ms until `stop()`; statuses counted. */
async function probeServing(url: string, config: ReturnType<typeof loadConfig>) {
  const database = connectDatabase(url);
  const { secret } = await createApiKey(database.db, { name: 'chaos-probe', scopes: ['predict'] });
  const deps = createServingDeps({ ...config, databaseUrl: url }, database, () => {});
  const server = await startServer({
    deps,
    port: 0,
    host: '127.0.0.1',
    shutdownTimeoutMs: 2000,
    log: () => {},
  });
  const statuses: Record<string, number> = {};
  const ask = async () => {
    try {
      // A registry read on every call (no cache): answered from the database or not at all.
      const res = await fetch(`${server.url}/trpc/models.list`, {
        headers: { authorization: `Bearer ${secret}` },
        signal: AbortSignal.timeout(5000),
      });
      await res.arrayBuffer();
      return String(res.status);
    } catch (error) {
      return `error:${(error as Error).name}`;
    }
  };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const status = await ask();
      statuses[status] = (statuses[status] ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    statuses,
    /** Stops asking; then waits (up to 30 s) for a 200, as a caller retrying after the outage would. */
    async stop(): Promise<boolean> {
      stopped = true;
      await loop;
      let recovered = false;
      for (let i = 0; i < 60 && !recovered; i++) {
        recovered = (await ask()) === '200';
        if (!recovered) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      await server.close();
      await closeServingDeps(deps);
      await database.close();
      return recovered;
    },
  };
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => {});
  const home = mkdtempSync(path.join(os.tmpdir(), 'kaizen-chaos-'));
  chmodSync(home, 0o755); // as root, Postgres runs as `postgres`: its data directory is below
  // Postgres of its own (not the dev stack's): the harness kills and restarts it.
  let postgres = await startEmbeddedPostgres({ dataDir: path.join(home, 'pg'), port: await findFreePort(0) });
  const config = loadConfig({
    ...process.env,
    KAIZEN_HOME: home,
    KAIZEN_DATA_ROOT: home,
    DATABASE_URL: postgres.url,
  });
  const stack = await startDevStack(config, { ephemeral: true, log: (line) => log(`  ${line}`) });
  const temporal = await connectClient(config.temporal, stack.temporalAddress);
  try {
    const sample = writeFlightsSample(home, { origins: opts.origins, startMs: JAN_1, endMs: opts.untilMs });
    const spinePath = path.join(home, 'spine.arrow');
    writeSpine(sample, spinePath);
    log(`chaos: ${sample.length} flights from ${opts.origins.join(', ')}`);
    const runs: Record<'clean' | 'chaos', { state: RunState; seconds: number }> = {} as never;
    let report: Pick<ChaosReport, 'kills' | 'postgresOutages' | 'serving'> | undefined;
    for (const name of ['clean', 'chaos'] as const) {
      const admin = new pg.Client({ connectionString: stack.databaseUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE chaos_${name}`);
      await admin.end();
      const url = new URL(stack.databaseUrl);
      url.pathname = `/chaos_${name}`;
      const database = connectDatabase(url.toString());
      await runMigrations(database);
      const artifactsDir = path.join(home, `artifacts-${name}`);
      mkdirSync(artifactsDir, { recursive: true });
      const store = createFeatureStore({ db: database.db, dataRoot: home, artifactsDir });
      const taskQueue = `chaos-${name}`;
      const worker = new WorkerProcess(
        {
          DATABASE_URL: url.toString(),
          TEMPORAL_ADDRESS: stack.temporalAddress,
          KAIZEN_HOME: home,
          KAIZEN_DATA_ROOT: home,
          KAIZEN_ARTIFACTS_DIR: artifactsDir,
          KAIZEN_TASK_QUEUE: taskQueue,
        },
        log,
      );
      worker.start();
      const started = performance.now();
      let done = false;
      let outages = 0;
      let serving: ChaosReport['serving'] = { statuses: {}, recovered: true };
      const probe = name === 'chaos' ? await probeServing(url.toString(), config) : undefined;
      const outage = (async () => {
        if (name === 'clean') return;
        const random = mulberry32(opts.seed + 1);
        while (!done && outages < (opts.postgresOutages ?? 0)) {
          await new Promise((resolve) => setTimeout(resolve, 2000 + random() * 3000));
          if (done) break;
          postgres = await killAndRestart(postgres, log);
          outages++;
        }
      })();
      const killer = (async () => {
        if (name === 'clean') return 0;
        const random = mulberry32(opts.seed);
        let kills = 0;
        while (!done && kills < opts.kills) {
          await new Promise((resolve) => setTimeout(resolve, 1500 + random() * 4000));
          if (done) break;
          worker.kill();
          kills++;
          await new Promise((resolve) => setTimeout(resolve, 200 + random() * 800));
          worker.start();
        }
        return kills;
      })();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          pipeline(
            { store, temporal, taskQueue },
            spinePath,
            path.join(artifactsDir, 'training-set.arrow'),
            opts.untilMs,
          ),
          new Promise((_, reject) => {
            const ms = opts.runTimeoutMs ?? 15 * 60_000;
            timer = setTimeout(
              () => reject(new Error(`the ${name} run did not finish in ${ms / 1000} s`)),
              ms,
            );
          }),
        ]);
      } catch (error) {
        done = true;
        await worker.stop();
        throw error;
      } finally {
        clearTimeout(timer);
        done = true;
      }
      const kills = await killer;
      await outage;
      if (probe) serving = { statuses: probe.statuses, recovered: await probe.stop() };
      const seconds = (performance.now() - started) / 1000;
      log(`chaos: ${name} run done in ${seconds.toFixed(1)} s${kills ? ` with ${kills} kills` : ''}`);
      await worker.stop();
      runs[name] = { state: await runState(database.pool, store), seconds };
      if (name === 'chaos') report = { kills, postgresOutages: outages, serving };
      await database.close();
    }
    const chaos = runs.chaos.state;
    const clean = runs.clean.state;
    const mismatches = [...new Set([...Object.keys(clean), ...Object.keys(chaos)])].filter(
      (key) => clean[key] !== chaos[key],
    );
    return {
      ...report!,
      seconds: { clean: runs.clean.seconds, chaos: runs.chaos.seconds },
      clean,
      chaos,
      mismatches,
    };
  } finally {
    await temporal.connection.close();
    await stack.stop();
    await postgres.stop();
    rmSync(home, { recursive: true, force: true });
  }
}
