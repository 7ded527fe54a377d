/**
 * bench:serve — `kaizen serve` on loopback: `features.get` for one flight (airport_departures +
 * route_delays + airport_info) and `predict` with the flights champion, each at its peak (autocannon,
 * closed loop) and then open loop at 1%, 10% and 50% of that peak (load.ts). Three baselines answer
 * that same features.get request at features.get's rates: a plain tRPC server returning Kaizen's
 * answer as a constant (what tRPC's HTTP path costs), bare node:http returning the same bytes (what
 * loopback HTTP and the load generator cost), and Feast's feature server over the rows Kaizen stores
 * for the flight (what another feature store's online path costs). Each server is its own process,
 * run one at a time; the load comes from this one. Also the bytes one in-process call allocates.
 * Ends with one JSON line.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  FLIGHT_VIEW_FEATURES,
  flightFeatureRefs,
  FLIGHTS_SPLIT,
  flightsTrainingSetRequest,
} from '../examples/flights/training-set.js';
import { runTrainingPipeline } from '../runtime/training-pipeline-runner.js';
import { findFreePort } from '../runtime/ports.js';
import { createApiKey } from '../serving/api-keys.js';
import { closeServingDeps, createServingDeps } from '../serving/app.js';
import { createCaller } from '../serving/router.js';
import { bytesPerCall } from './allocation.js';
import { log, round, runBench, withBenchStack, type BenchStack } from './bench-stack.js';
import { checkFeastAnswer, ensureFeast, feastServeCommand, writeFeastRepo } from './feast.js';
import { prepareFlights } from './flights-setup.js';
import { latencyAt, peakRps, type Latency, type Target } from './load.js';

const MODEL = 'flight_delays';
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** A busy route at its last materialized day; the departure feeds the on-demand features. */
const FLIGHT = { airport: 'ORD', route: ['ORD', 'LGA'], departure: '2001-06-30T17:00:00Z' };
/** The stored features only (no on-demand ones): Feast serves the same refs, `view:feature`. */
const FEATURE_REFS = flightFeatureRefs(FLIGHT_VIEW_FEATURES).map(({ view, feature }) => `${view}:${feature}`);
/** The flight's entities as Feast's join keys spell them (Kaizen takes the route's parts as an array). */
const FEAST_ENTITY = { airport: FLIGHT.airport, route: FLIGHT.route.join('-') };

/** Extra node flags for the server processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile them. */
const SERVER_NODE_ARGS = (process.env.KAIZEN_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);

interface ServerProcess {
  url: string;
  stop(): Promise<void>;
}

/** A server in its own process, ready once GET `probe` answers 200. */
async function startProcess(
  command: string,
  args: string[],
  port: number,
  probe: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServerProcess> {
  const child = spawn(command, args, { cwd: REPO, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = once(child, 'exit');
  // A benchmark that dies must not leave a server behind.
  const orphaned = () => child.kill();
  process.once('exit', orphaned);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${command} ${args.join(' ')} exited with ${child.exitCode}`);
    const status = await fetch(`${url}${probe}`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline) throw new Error(`${command} ${args.join(' ')}: ${probe} not 200 after 60 s`);
    await sleep(200);
  }
  return {
    url,
    async stop() {
      process.off('exit', orphaned);
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A TypeScript entry point of this repository in its own Node process. */
const startNodeProcess = (args: string[], port: number, probe: string, env?: NodeJS.ProcessEnv) =>
  startProcess(process.execPath, [...SERVER_NODE_ARGS, '--import', 'tsx', ...args], port, probe, env);

/** The flights model through the continuous-training pipeline (its first version: promoted). */
async function trainChampion({ config, temporal, work }: BenchStack, spine: string): Promise<void> {
  log('training the flights champion (built-in MLP 64-32, one epoch)…');
  const { result } = await runTrainingPipeline(
    { temporal, taskQueue: config.taskQueue },
    {
      model: MODEL,
      trainingSet: flightsTrainingSetRequest(spine, path.join(work, 'flights.arrow'), {
        split: FLIGHTS_SPLIT,
        shards: 2,
      }),
      label: 'delayed',
      trainer: { kind: 'builtin', params: { kind: 'mlp', hidden: [64, 32], maxEpochs: 1, seed: 42 } },
    },
  );
  if (result.status !== 'promoted')
    throw new Error(`${MODEL}@v${result.version} was not promoted: ${result.reasons.join('; ')}`);
}

/** Latency is measured at these fractions of the target's own peak. */
const RATE_FRACTIONS = [0.01, 0.1, 0.5];
/** Each latency run lasts long enough for this many samples, within [10 s, LATENCY_MAX_S]. */
const LATENCY_SAMPLES = Number(process.env.KAIZEN_BENCH_SERVE_SAMPLES ?? 20_000);
const LATENCY_MAX_S = Number(process.env.KAIZEN_BENCH_SERVE_MAX_S ?? 120);
/** A baseline is measured at Kaizen's rates up to this share of its own peak (past it, it queues). */
const BASELINE_MAX_LOAD = 0.75;

interface Measured {
  rps: number;
  latency: Latency[];
}

const secondsFor = (rate: number) => Math.min(LATENCY_MAX_S, Math.max(10, Math.ceil(LATENCY_SAMPLES / rate)));

/** Peak requests/s, then latency at each of `rates` (default: RATE_FRACTIONS of the peak). */
async function measure(name: string, target: Target, rates?: number[]): Promise<Measured> {
  log(`${name}: peak…`);
  const rps = await peakRps(target);
  log(`${name}: ${Math.round(rps)} requests/s at peak`);
  const latency: Latency[] = [];
  for (const rate of rates ?? RATE_FRACTIONS.map((f) => Math.round(f * rps))) {
    if (rate > BASELINE_MAX_LOAD * rps) {
      log(`${name}: not measured at ${rate} requests/s, over ${BASELINE_MAX_LOAD * 100}% of its peak`);
      continue;
    }
    const seconds = secondsFor(rate);
    log(`${name}: latency at ${rate} requests/s for ${seconds} s…`);
    const at = await latencyAt(target, rate, seconds);
    log(
      `${name}: at ${rate} requests/s, ${at.samples} samples: p50 ${at.p50.toFixed(3)} ms, p99 ${at.p99.toFixed(3)}, p99.9 ${at.p999.toFixed(3)}, max ${at.max.toFixed(3)} (sent late: p99 ${at.sendLagP99.toFixed(3)}, max ${at.sendLagMax.toFixed(3)})`,
    );
    latency.push(at);
  }
  return { rps, latency };
}

/** A target's figures for the JSON line: peak, then per rate its latency percentiles (ms). */
const figures = ({ rps, latency }: Measured) => ({
  rps: Math.round(rps),
  latency: latency.map((l) => ({
    rate: l.rate,
    samples: l.samples,
    p50_ms: round(l.p50),
    p99_ms: round(l.p99),
    p999_ms: round(l.p999),
    max_ms: round(l.max),
    send_lag_p99_ms: round(l.sendLagP99),
  })),
});

const worstP99 = ({ latency }: Measured) => round(Math.max(...latency.map((l) => l.p99)));

/**
 * Bytes one in-process call allocates (procedure through tRPC's caller, no HTTP): `features.get` and
 * `predict` as the load below sends them, on serving components wired as `kaizen serve` wires them.
 */
async function allocationPerCall({ config, database }: BenchStack, secret: string) {
  const deps = createServingDeps(
    { ...config, serving: { ...config.serving, preload: [MODEL] } },
    database,
    log,
  );
  try {
    while (!deps.models.ready()) await sleep(50);
    const caller = createCaller({ deps, key: await deps.keys.verify(secret) });
    const entities = [{ airport: FLIGHT.airport, route: FLIGHT.route }];
    const features = await bytesPerCall(() => caller.features.get({ features: FEATURE_REFS, entities }));
    const predict = await bytesPerCall(() => caller.predict({ model: MODEL, entities: [FLIGHT] }));
    log(
      `bytes allocated per in-process call: features.get ${Math.round(features)}, predict ${Math.round(predict)}`,
    );
    return { features: Math.round(features), predict: Math.round(predict) };
  } finally {
    await closeServingDeps(deps);
  }
}

/** One POST of `target`'s body; its answer's text (fails unless 2xx). */
async function sample(target: Target): Promise<string> {
  const response = await fetch(target.url, { method: 'POST', headers: target.headers, body: target.body });
  const text = await response.text();
  if (!response.ok) throw new Error(`${target.url}: ${response.status} ${text}`);
  return text;
}

async function main() {
  // Before the long preparation: an install that fails should fail the run early.
  await ensureFeast();
  await withBenchStack('serve', async (stack) => {
    const spine = await prepareFlights(stack);
    await trainChampion(stack, spine);
    const { secret } = await createApiKey(stack.database.db, {
      name: 'bench',
      scopes: ['features:read', 'predict'],
    });
    const allocation = await allocationPerCall(stack, secret);

    const kaizenPort = await findFreePort(0);
    const kaizen = await startNodeProcess(
      ['cli/main.ts', 'serve', '--host', '127.0.0.1', '--port', String(kaizenPort), '--preload', MODEL],
      kaizenPort,
      '/readyz',
      { ...process.env, DATABASE_URL: stack.databaseUrl, KAIZEN_HOME: stack.config.home },
    );
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${secret}` };
    const featuresBody = JSON.stringify({
      features: FEATURE_REFS,
      entities: [{ airport: FLIGHT.airport, route: FLIGHT.route }],
    });
    const features: Target = { url: `${kaizen.url}/trpc/features.get`, headers, body: featuresBody };
    const predict: Target = {
      url: `${kaizen.url}/trpc/predict`,
      headers,
      body: JSON.stringify({ model: MODEL, entities: [FLIGHT] }),
    };
    let featuresResponse, featuresRun, predictRun;
    try {
      featuresResponse = await sample(features);
      log(`features.get answers ${featuresResponse.length} bytes: ${featuresResponse}`);
      log(`predict answers ${await sample(predict)}`);
      featuresRun = await measure('features.get', features);
      predictRun = await measure('predict', predict);
    } finally {
      await kaizen.stop();
    }
    // The baselines are measured at features.get's rates: the same load, side by side.
    const kaizenRates = featuresRun.latency.map((l) => l.rate);

    const trpcPort = await findFreePort(0);
    const trpcAnswer = JSON.stringify(
      (JSON.parse(featuresResponse) as { result: { data: unknown } }).result.data,
    );
    const trpc = await startNodeProcess(
      ['bench/trpc-baseline-server.ts', String(trpcPort), trpcAnswer],
      trpcPort,
      `/trpc/features.get?input=${encodeURIComponent(featuresBody)}`,
    );
    let trpcRun;
    try {
      const target: Target = { url: `${trpc.url}/trpc/features.get`, headers, body: featuresBody };
      const answer = await sample(target);
      if (answer !== featuresResponse)
        throw new Error(`the tRPC baseline answers ${answer}, not Kaizen's ${featuresResponse}`);
      trpcRun = await measure('plain tRPC', target, kaizenRates);
    } finally {
      await trpc.stop();
    }

    const barePort = await findFreePort(0);
    const bare = await startNodeProcess(
      ['bench/bare-http-server.ts', String(barePort), featuresResponse],
      barePort,
      '/',
    );
    let bareRun;
    try {
      bareRun = await measure(
        'bare node:http',
        { url: `${bare.url}/`, headers, body: featuresBody },
        kaizenRates,
      );
    } finally {
      await bare.stop();
    }

    log("loading the flight's online rows into a Feast repo…");
    const feastDir = path.join(stack.work, 'feast');
    const stored = await writeFeastRepo(
      stack.store,
      feastDir,
      Object.keys(FLIGHT_VIEW_FEATURES),
      { airport: FLIGHT.airport, route: FLIGHT.route },
      FEAST_ENTITY,
    );
    const feastPort = await findFreePort(0);
    const { command, args } = feastServeCommand(feastDir, feastPort);
    const feast = await startProcess(command, args, feastPort, '/health');
    let feastRun;
    try {
      const target: Target = {
        url: `${feast.url}/get-online-features`,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          features: FEATURE_REFS,
          entities: Object.fromEntries(Object.entries(FEAST_ENTITY).map(([key, value]) => [key, [value]])),
          full_feature_names: true,
        }),
      };
      const answer = await sample(target);
      log(`Feast answers ${answer.length} bytes: ${answer}`);
      checkFeastAnswer(FEATURE_REFS, featuresResponse, answer, stored);
      feastRun = await measure('Feast', target, kaizenRates);
    } finally {
      await feast.stop();
    }

    console.log(
      JSON.stringify({
        features_rps: Math.round(featuresRun.rps),
        features_p99_worst_ms: worstP99(featuresRun),
        predict_rps: Math.round(predictRun.rps),
        predict_p99_worst_ms: worstP99(predictRun),
        features_bytes_per_call: allocation.features,
        predict_bytes_per_call: allocation.predict,
        trpc_rps: Math.round(trpcRun.rps),
        feast_rps: Math.round(feastRun.rps),
        features_vs_trpc: round(featuresRun.rps / trpcRun.rps),
        predict_vs_trpc: round(predictRun.rps / trpcRun.rps),
        features_vs_feast: round(featuresRun.rps / feastRun.rps),
        features: figures(featuresRun),
        predict: figures(predictRun),
        trpc: figures(trpcRun),
        bare_http: figures(bareRun),
        feast: figures(feastRun),
      }),
    );
  });
}

runBench(main);
