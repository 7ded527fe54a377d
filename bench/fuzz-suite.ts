/**
 * The fuzzing of bench:fuzz and test/fuzz.test.ts, at any size: malformed source rows materialized
 * by two views (every row written or quarantined with its reason, nothing written twice), then
 * hostile requests to a `kaizen serve` process over those stores (no 5xx, every error a typed tRPC
 * error, its memory bounded, healthy and right afterwards). Each part returns its figures and the
 * violations it saw; callers assert or report them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../db/client.js';
import { trainingSets } from '../db/schema.js';
import { encodeKeyPart } from '../feature-store/definitions/entity-keys.js';
import { defineEntity } from '../feature-store/definitions/entity.js';
import { defineFeatureView } from '../feature-store/definitions/feature-view.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import { defineLabelSource } from '../monitoring/labels/label-source.js';
import { applyMonitoringDefinitions } from '../monitoring/registry.js';
import { registerModelVersion, setAlias } from '../models/registry.js';
import type { MaterializeRequest, MaterializeRun } from '../runtime/materialization-runner.js';
import { createApiKey, revokeApiKey } from '../serving/api-keys.js';
import { exportOnnx } from '../trainers/builtin/onnx-export.js';
import {
  expectedReason,
  generateSource,
  SENTINEL,
  SENTINEL_ROW,
  VIEW_COLUMNS,
  type FuzzSource,
  type TypedRow,
} from './fuzz-rows.js';
import { checkAnswer, RequestFuzzer, send, type RequestContext } from './fuzz-requests.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const PLAIN_VIEW = 'fuzz_plain';
export const WINDOW_VIEW = 'fuzz_window';
export const MODEL = 'fuzz_delays';
export const INPUT_COLUMN = `${PLAIN_VIEW}__delay`;
/** The model: score = sigmoid(WEIGHT · delay). */
export const WEIGHT = 0.1;
export const LABEL_SOURCE = 'fuzz_outcome';

export interface FuzzStack {
  database: Database;
  databaseUrl: string;
  dataRoot: string;
  materialize(request: MaterializeRequest): Promise<MaterializeRun>;
}

const airport = defineEntity({ name: 'airport', joinKey: 'airport' });
const source = { kind: 'csv', path: 'fuzz.csv', timestampField: 'ts' } as const;
const plainView = defineFeatureView({
  name: PLAIN_VIEW,
  entities: [airport],
  source,
  features: { delay: 'float64', distance: 'int64', destination: 'string', cancelled: 'bool' },
});
const windowView = defineFeatureView({
  name: WINDOW_VIEW,
  entities: [airport],
  source,
  transform: {
    kind: 'window',
    hop: '1h',
    windows: ['1h', '24h'],
    aggregations: [
      { name: 'departures', fn: 'count' },
      { name: 'mean_delay', fn: 'mean', column: 'delay' },
    ],
  },
});

// ---------------------------------------------------------------------------------------------
// Source rows

export interface SourceFigures {
  total: number;
  /** Plain view: rows written offline. */
  written: number;
  quarantined: number;
  /** By the reason's stable prefix (before the colon), plain view. */
  by_reason: Record<string, number>;
  /** Window view: source rows quarantined, and events counted in its 1h windows (every accepted row once). */
  window_quarantined: number;
  window_events: number;
  huge_strings: number;
  rerun_rows_written: number;
  materialize_s: number;
}

/** Writes the fuzzed CSV, applies both views, materializes them twice and checks every row's fate. */
export async function fuzzSourceRows(
  stack: FuzzStack,
  opts: { rows: number; seed: number; maxHuge: number },
): Promise<{ figures: SourceFigures; violations: string[]; source: FuzzSource }> {
  const fuzzed = generateSource(opts);
  writeFileSync(path.join(stack.dataRoot, source.path), fuzzed.csv);
  await applyDefinitions(stack.database.db, { entities: [airport], views: [plainView, windowView] });
  const violations: string[] = [];
  const pool = stack.database.pool;
  const total = fuzzed.rows.length;

  const started = performance.now();
  const plain = (await stack.materialize({ view: PLAIN_VIEW })).result;
  const windowed = (await stack.materialize({ view: WINDOW_VIEW })).result;
  const materializeS = (performance.now() - started) / 1000;

  // Plain view: each row written or quarantined, exactly the rows the generator spoiled.
  const expectedPlain = fuzzed.rows.filter((row) => expectedReason(row, VIEW_COLUMNS.plain) === null).length;
  if (plain.rowsWritten + plain.rowsQuarantined !== total)
    violations.push(
      `plain: ${plain.rowsWritten} written + ${plain.rowsQuarantined} quarantined ≠ ${total} rows`,
    );
  if (plain.rowsWritten !== expectedPlain)
    violations.push(`plain: ${plain.rowsWritten} rows written, ${expectedPlain} valid rows`);
  const offline = await count(pool, `SELECT count(*) FROM kaizen_offline."${PLAIN_VIEW}__v1"`);
  if (offline !== plain.rowsWritten)
    violations.push(`plain: ${offline} offline rows, result says ${plain.rowsWritten}`);
  const byReason = await checkQuarantine(stack, PLAIN_VIEW, fuzzed, VIEW_COLUMNS.plain, violations);
  await checkOnline(stack, fuzzed, violations);

  // Window view: the rows it reads bad are quarantined; every other one counted in exactly one 1h window.
  await checkQuarantine(stack, WINDOW_VIEW, fuzzed, VIEW_COLUMNS.window, violations);
  const expectedEvents = fuzzed.rows.filter(
    (row) => expectedReason(row, VIEW_COLUMNS.window) === null,
  ).length;
  if (windowed.rowsQuarantined !== total - expectedEvents)
    violations.push(`window: ${windowed.rowsQuarantined} quarantined, ${total - expectedEvents} bad rows`);
  const events = await count(
    pool,
    `SELECT coalesce(sum(departures_1h), 0) FROM kaizen_offline."${WINDOW_VIEW}__v1"`,
  );
  if (events !== expectedEvents)
    violations.push(`window: ${events} events in 1h windows, ${expectedEvents} valid`);

  // Again: nothing written twice, the quarantine as it was.
  const quarantineBefore = await count(pool, 'SELECT count(*) FROM kaizen.quarantine');
  let rerunWritten = 0;
  for (const view of [PLAIN_VIEW, WINDOW_VIEW]) {
    const { result } = await stack.materialize({ view });
    rerunWritten += result.rowsWritten;
    if (result.chunksSkipped !== result.chunks)
      violations.push(`${view} again: ${result.chunks - result.chunksSkipped} chunks written again`);
  }
  if (rerunWritten !== 0) violations.push(`a second run wrote ${rerunWritten} rows`);
  if ((await count(pool, `SELECT count(*) FROM kaizen_offline."${PLAIN_VIEW}__v1"`)) !== offline)
    violations.push('a second run changed the offline rows');
  if ((await count(pool, 'SELECT count(*) FROM kaizen.quarantine')) !== quarantineBefore)
    violations.push('a second run changed the quarantine');

  return {
    figures: {
      total,
      written: plain.rowsWritten,
      quarantined: plain.rowsQuarantined,
      by_reason: byReason,
      window_quarantined: windowed.rowsQuarantined,
      window_events: events,
      huge_strings: fuzzed.hugeStrings,
      rerun_rows_written: rerunWritten,
      materialize_s: Math.round(materializeS * 10) / 10,
    },
    violations,
    source: fuzzed,
  };
}

async function count(pool: Database['pool'], sql: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(sql.replace(/^SELECT (.*?) FROM/, 'SELECT $1 AS n FROM'));
  return Number(rows[0].n);
}

/** The view's quarantine holds exactly the rows it must, each with the expected reason; counts by reason. */
async function checkQuarantine(
  stack: FuzzStack,
  view: string,
  fuzzed: FuzzSource,
  columns: readonly (typeof VIEW_COLUMNS.plain)[number][],
  violations: string[],
): Promise<Record<string, number>> {
  const { rows } = await stack.database.pool.query<{ position: number; reason: string }>(
    'SELECT position, reason FROM kaizen.quarantine WHERE view_name = $1 ORDER BY position',
    [view],
  );
  const byReason: Record<string, number> = {};
  const seen = new Set<number>();
  for (const { position, reason } of rows) {
    const prefix = reason.split(':', 1)[0];
    byReason[prefix] = (byReason[prefix] ?? 0) + 1;
    if (seen.has(position)) violations.push(`${view}: row ${position} quarantined twice`);
    seen.add(position);
    const row = fuzzed.rows[position];
    const expected = row && expectedReason(row, columns);
    if (!reason.trim() || reason.trim() === prefix)
      violations.push(`${view}: row ${position} without a reason`);
    if (expected === null || expected === undefined)
      violations.push(`${view}: valid row ${position} quarantined: ${reason.slice(0, 200)}`);
    else if (prefix !== expected)
      violations.push(
        `${view}: row ${position} (${row.fault!.name}): "${reason.slice(0, 200)}", expected "${expected}"`,
      );
  }
  fuzzed.rows.forEach((row, position) => {
    if (expectedReason(row, columns) !== null && !seen.has(position))
      violations.push(`${view}: row ${position} (${row.fault!.name}) neither written nor quarantined`);
  });
  return byReason;
}

/** Every key's online row is its last valid row (ties: the later row), values exactly as written. */
async function checkOnline(stack: FuzzStack, fuzzed: FuzzSource, violations: string[]): Promise<void> {
  const expected = new Map<string, TypedRow>();
  for (const row of fuzzed.rows) {
    if (row.fault || !row.typed) continue;
    const key = encodeKeyPart(row.typed.key, 'escaped');
    const before = expected.get(key);
    if (!before || row.typed.ts >= before.ts) expected.set(key, row.typed);
  }
  const { rows } = await stack.database.pool.query<{
    entity_key: string;
    event_ts: Date;
    delay: number | null;
    distance: string | null;
    destination: string | null;
    cancelled: boolean | null;
  }>(
    `SELECT entity_key, event_ts, delay, distance, destination, cancelled FROM kaizen_online."${PLAIN_VIEW}__v1"`,
  );
  if (rows.length !== expected.size)
    violations.push(`online: ${rows.length} keys, ${expected.size} expected`);
  for (const row of rows) {
    const want = expected.get(row.entity_key);
    const got = {
      ts: row.event_ts.getTime(),
      delay: row.delay,
      distance: row.distance === null ? null : Number(row.distance),
      destination: row.destination,
      cancelled: row.cancelled,
    };
    const mismatch =
      !want ||
      got.ts !== want.ts ||
      got.delay !== want.delay ||
      got.distance !== want.distance ||
      got.destination !== want.destination ||
      got.cancelled !== want.cancelled;
    if (mismatch)
      violations.push(
        `online row of ${JSON.stringify(row.entity_key.slice(0, 40))}: ${JSON.stringify({ ...got, destination: got.destination?.slice(0, 40) })}, expected ${JSON.stringify(want && { ...want, destination: want.destination?.slice(0, 40) })}`,
      );
  }
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface RequestFigures {
  total: number;
  by_status: Record<string, number>;
  by_kind: Record<string, number>;
  server_errors: number;
  /** Answers that broke a rule (5xx, not a tRPC error, a valid call refused, no answer). */
  violations: number;
  rss_start_mb: number;
  max_rss_mb: number;
  rss_end_mb: number;
  healthy_after: boolean;
  /** Per request, as the client saw it (concurrent requests wait on each other). */
  latency_ms: { p50: number; p99: number; max: number };
  seconds: number;
  requests_per_s: number;
}

/** A `kaizen serve` process over the stack's database; its stderr is kept for the report. */
export interface ServerProcess {
  url: URL;
  child: ChildProcess;
  stderr: string[];
  rssMb(): number;
  stop(): Promise<number | null>;
}

export async function startServerProcess(
  stack: FuzzStack,
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'cli/main.ts', 'serve', '--port', '0', '--host', '127.0.0.1', '--preload', MODEL],
    {
      cwd: REPO,
      env: {
        ...process.env,
        DATABASE_URL: stack.databaseUrl,
        KAIZEN_DATA_ROOT: stack.dataRoot,
        KAIZEN_HOME: stack.dataRoot,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const orphaned = () => child.kill('SIGKILL');
  process.once('exit', orphaned);
  const stderr: string[] = [];
  child
    .stderr!.setEncoding('utf8')
    .on('data', (text: string) => stderr.push(...text.split('\n').filter(Boolean)));
  let stdout = '';
  const url = await new Promise<URL>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`kaizen serve did not start: ${stderr.join('\n')}`)),
      120_000,
    );
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const match = /kaizen serve: (http:\/\/\S+) /.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(new URL(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kaizen serve exited with ${code}: ${stderr.join('\n')}`));
    });
  });
  const exited = once(child, 'exit');
  return {
    url,
    child,
    stderr,
    rssMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
    },
    async stop() {
      process.off('exit', orphaned);
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

/** Registers the model (score = sigmoid(0.1 · delay)), its label source and API keys; returns the context. */
export async function prepareServing(
  stack: FuzzStack,
  keys: string[],
): Promise<Omit<RequestContext, 'maxRows' | 'maxBodyBytes'>> {
  const { db } = stack.database;
  const onnx = exportOnnx({
    kind: 'logistic',
    inputs: [{ kind: 'numeric', name: INPUT_COLUMN, mean: 0, std: 1, fill: 0, missingIndicator: false }],
    layers: [
      {
        inputs: 1,
        outputs: 1,
        weights: Float32Array.of(WEIGHT),
        bias: Float32Array.of(0),
        activation: 'none',
      },
    ],
  });
  const artifactPath = path.join(stack.dataRoot, 'fuzz-model.onnx');
  writeFileSync(artifactPath, onnx);
  await db
    .insert(trainingSets)
    .values({
      id: 'ts_fuzz',
      path: '/dev/null',
      spineSha256: '0',
      rowCount: 0,
      contentHash: '0',
      manifest: {},
    })
    .onConflictDoNothing();
  const { version } = await registerModelVersion(db, {
    name: MODEL,
    artifactPath,
    trainer: 'builtin:logistic',
    params: { kind: 'logistic' },
    trainingSetId: 'ts_fuzz',
    features: [`${PLAIN_VIEW}@v1:delay`],
    metrics: {},
  });
  await setAlias(db, { model: MODEL, alias: 'champion', version, actor: 'fuzz', reason: 'fuzzing' });
  await applyMonitoringDefinitions(db, {
    labelSources: [
      defineLabelSource({ name: LABEL_SOURCE, entities: [airport], label: { column: 'cancelled' } }),
    ],
    monitorPolicies: [],
  });
  const secret = async (name: string, scopes: Parameters<typeof createApiKey>[1]['scopes']) =>
    (await createApiKey(db, { name, scopes })).secret;
  const secrets = {
    admin: await secret('fuzz-admin', ['admin']),
    predict: await secret('fuzz-predict', ['predict']),
    features: await secret('fuzz-features', ['features:read']),
    revoked: await secret('fuzz-revoked', ['admin']),
  };
  await revokeApiKey(db, 'fuzz-revoked');
  return {
    model: MODEL,
    inputColumn: INPUT_COLUMN,
    featureRefs: [
      `${PLAIN_VIEW}:delay`,
      `${PLAIN_VIEW}:distance`,
      `${PLAIN_VIEW}:destination`,
      `${PLAIN_VIEW}:cancelled`,
      `${WINDOW_VIEW}:departures_1h`,
      `${WINDOW_VIEW}:mean_delay_24h`,
    ],
    keys: [...keys, SENTINEL, 'NOWHERE'],
    labelSource: LABEL_SOURCE,
    secrets,
  };
}

/**
 * `requests` hostile requests (`concurrency` in flight) to `server`; RSS sampled every 50 ms. Then
 * /healthz, /readyz and two valid calls whose answers are known.
 */
export async function fuzzRequests(
  server: ServerProcess,
  ctx: RequestContext,
  opts: { requests: number; seed: number; concurrency: number },
): Promise<{ figures: RequestFigures; violations: string[] }> {
  const fuzzer = new RequestFuzzer(ctx, opts.seed);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const byStatus: Record<string, number> = {};
  const byKind: Record<string, number> = {};
  const violations: string[] = [];
  const rssStart = server.rssMb();
  let maxRss = rssStart;
  const sampler = setInterval(() => {
    if (server.child.exitCode === null) maxRss = Math.max(maxRss, server.rssMb());
  }, 50);
  const started = performance.now();
  const latencies: number[] = [];
  let sent = 0;
  let problems = 0;
  try {
    const lane = async () => {
      while (sent < opts.requests && server.child.exitCode === null) {
        sent++;
        const request = fuzzer.next();
        const sentAt = performance.now();
        const answer = await send(server.url, request, agent);
        latencies.push(performance.now() - sentAt);
        const status = answer.status === 0 ? 'none' : String(answer.status);
        byStatus[status] = (byStatus[status] ?? 0) + 1;
        byKind[request.kind] = (byKind[request.kind] ?? 0) + 1;
        const problem = checkAnswer(request, answer);
        if (problem) {
          problems++;
          if (violations.length < 50)
            violations.push(`${request.kind} ${request.method} ${request.path.slice(0, 120)}: ${problem}`);
        }
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, lane));
  } finally {
    clearInterval(sampler);
  }
  const seconds = (performance.now() - started) / 1000;
  if (server.child.exitCode !== null) violations.push(`the server exited with ${server.child.exitCode}`);

  const healthy = await checkHealthy(server, ctx, agent, violations);
  const rssEnd = server.child.exitCode === null ? server.rssMb() : NaN;
  agent.destroy();
  const serverErrors = Object.entries(byStatus)
    .filter(([status]) => Number(status) >= 500)
    .reduce((sum, [, n]) => sum + n, 0);
  const internal = server.stderr.filter((line) => / failed: /.test(line));
  if (internal.length)
    violations.push(`server logged ${internal.length} failures, e.g. ${internal[0].slice(0, 300)}`);
  return {
    figures: {
      total: sent,
      by_status: byStatus,
      by_kind: byKind,
      server_errors: serverErrors,
      violations: problems,
      rss_start_mb: Math.round(rssStart),
      max_rss_mb: Math.round(maxRss),
      rss_end_mb: Math.round(rssEnd),
      healthy_after: healthy,
      latency_ms: percentiles(latencies),
      seconds: Math.round(seconds * 10) / 10,
      requests_per_s: Math.round(sent / seconds),
    },
    violations,
  };
}

function percentiles(values: number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
  return { p50: at(0.5), p99: at(0.99), max: Math.round(sorted[sorted.length - 1] ?? 0) };
}

/** /healthz and /readyz 200; the sentinel's features and a prediction from given features are right. */
async function checkHealthy(
  server: ServerProcess,
  ctx: RequestContext,
  agent: http.Agent,
  violations: string[],
): Promise<boolean> {
  const before = violations.length;
  const auth = { authorization: `Bearer ${ctx.secrets.admin}`, 'content-type': 'application/json' };
  const call = async (method: string, route: string, body?: unknown) => {
    const answer = await send(
      server.url,
      {
        kind: 'check',
        method,
        path: route,
        headers: auth,
        body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
      },
      agent,
    );
    if (answer.status !== 200) {
      violations.push(
        `after the fuzzing: ${method} ${route} answered ${answer.status} ${answer.error ?? ''}`,
      );
      return undefined;
    }
    return JSON.parse(answer.body.toString()) as { result: { data: unknown } };
  };
  await call('GET', '/healthz');
  // A moment for the readiness check's own pool connection, if the fuzzing exhausted it.
  for (let i = 0; i < 20; i++) {
    const ready = await send(
      server.url,
      { kind: 'check', method: 'GET', path: '/readyz', headers: {} },
      agent,
    );
    if (ready.status === 200) break;
    if (i === 19) violations.push(`after the fuzzing: /readyz answered ${ready.status}`);
    await sleep(250);
  }
  const features = await call('POST', '/trpc/features.get', {
    features: [`${PLAIN_VIEW}:delay`, `${PLAIN_VIEW}:destination`],
    entities: [{ airport: SENTINEL }],
  });
  const values = (
    features?.result.data as { results: Array<{ values: Record<string, unknown> }> } | undefined
  )?.results[0]?.values;
  if (
    features &&
    (values?.[`${PLAIN_VIEW}__delay`] !== SENTINEL_ROW.delay ||
      values?.[`${PLAIN_VIEW}__destination`] !== SENTINEL_ROW.destination)
  )
    violations.push(`after the fuzzing: the sentinel's features are ${JSON.stringify(values)}`);
  const x = 3;
  const predicted = await call('POST', '/trpc/predict', { model: MODEL, features: [{ [INPUT_COLUMN]: x }] });
  const score = (predicted?.result.data as { predictions: Array<{ score: number }> } | undefined)
    ?.predictions[0]?.score;
  if (predicted && !(Math.abs((score ?? NaN) - 1 / (1 + Math.exp(-WEIGHT * x))) < 1e-6))
    violations.push(`after the fuzzing: predict scored ${score}`);
  const byEntity = await call('POST', '/trpc/predict', { model: MODEL, entities: [{ airport: SENTINEL }] });
  const entityScore = (byEntity?.result.data as { predictions: Array<{ score: number }> } | undefined)
    ?.predictions[0]?.score;
  if (byEntity && !(Math.abs((entityScore ?? NaN) - 1 / (1 + Math.exp(-WEIGHT * SENTINEL_ROW.delay))) < 1e-6))
    violations.push(`after the fuzzing: predict for the sentinel scored ${entityScore}`);
  return violations.length === before;
}
