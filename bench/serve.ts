/**
 * bench:serve — `kaizen serve` under autocannon load on loopback: `features.get` for one flight
 * (airport_departures + route_delays + airport_info) and `predict` with the flights champion, beside a
 * bare node:http server answering the same bytes as that features.get response (the baseline). Each
 * server is its own process; autocannon runs in this one. Ends with one JSON line.
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
import { log, round, runBench, withBenchStack, type BenchStack } from './bench-stack.js';
import { prepareFlights } from './flights-setup.js';
import { latencyAt, peakRps, type Latency, type Target } from './load.js';

const MODEL = 'flight_delays';
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** A busy route at its last materialized day; the departure feeds the on-demand features. */
const FLIGHT = { airport: 'ORD', route: ['ORD', 'LGA'], departure: '2001-06-30T17:00:00Z' };
const FEATURE_REFS = flightFeatureRefs(FLIGHT_VIEW_FEATURES).map(({ view, feature }) => `${view}:${feature}`);

/** Extra node flags for the server processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile them. */
const SERVER_NODE_ARGS = (process.env.KAIZEN_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);

interface ServerProcess {
  url: string;
  stop(): Promise<void>;
}

/** A TypeScript entry point in its own process, ready once `probe` answers 200. */
async function startProcess(
  args: string[],
  port: number,
  probe: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...SERVER_NODE_ARGS, '--import', 'tsx', ...args], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit');
  // A benchmark that dies must not leave a server behind.
  const orphaned = () => child.kill();
  process.once('exit', orphaned);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited with ${child.exitCode}`);
    const status = await fetch(`${url}${probe}`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline) throw new Error(`${args.join(' ')}: ${probe} not 200 after 60 s`);
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

/** Peak requests/s, then latency at half of it. */
async function measure(name: string, target: Target): Promise<{ rps: number; half: Latency }> {
  log(`${name}: peak…`);
  const rps = await peakRps(target);
  log(`${name}: ${Math.round(rps)} requests/s at peak; latency at ${Math.round(rps / 2)} requests/s…`);
  const half = await latencyAt(target, rps / 2);
  log(
    `${name}: p50 ${half.p50.toFixed(3)} ms, p99 ${half.p99.toFixed(3)} ms (${Math.round(half.rps)} requests/s, ${half.connections} connections)`,
  );
  return { rps, half };
}

async function main() {
  await withBenchStack('serve', async (stack) => {
    const spine = await prepareFlights(stack);
    await trainChampion(stack, spine);
    const { secret } = await createApiKey(stack.database.db, {
      name: 'bench',
      scopes: ['features:read', 'predict'],
    });

    const kaizenPort = await findFreePort(0);
    const kaizen = await startProcess(
      ['cli/main.ts', 'serve', '--host', '127.0.0.1', '--port', String(kaizenPort), '--preload', MODEL],
      kaizenPort,
      '/readyz',
      { ...process.env, DATABASE_URL: stack.databaseUrl, KAIZEN_HOME: stack.config.home },
    );
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${secret}` };
    const features: Target = {
      url: `${kaizen.url}/trpc/features.get`,
      headers,
      body: JSON.stringify({
        features: FEATURE_REFS,
        entities: [{ airport: FLIGHT.airport, route: FLIGHT.route }],
      }),
    };
    const predict: Target = {
      url: `${kaizen.url}/trpc/predict`,
      headers,
      body: JSON.stringify({ model: MODEL, entities: [FLIGHT] }),
    };
    const sample = async (target: Target) => {
      const response = await fetch(target.url, { method: 'POST', headers, body: target.body });
      const text = await response.text();
      if (!response.ok) throw new Error(`${target.url}: ${response.status} ${text}`);
      return text;
    };
    let featuresResponse, featuresRun, predictRun;
    try {
      featuresResponse = await sample(features);
      log(`features.get answers ${featuresResponse.length} bytes: ${featuresResponse.slice(0, 300)}…`);
      log(`predict answers ${await sample(predict)}`);
      featuresRun = await measure('features.get', features);
      predictRun = await measure('predict', predict);
    } finally {
      await kaizen.stop();
    }

    const barePort = await findFreePort(0);
    const bare = await startProcess(
      ['bench/bare-server.ts', String(barePort), featuresResponse],
      barePort,
      '/',
    );
    let bareRun;
    try {
      bareRun = await measure('bare node:http', { url: bare.url, headers, body: features.body });
    } finally {
      await bare.stop();
    }

    console.log(
      JSON.stringify({
        features_rps: Math.round(featuresRun.rps),
        features_p50_ms: round(featuresRun.half.p50),
        features_p99_ms: round(featuresRun.half.p99),
        predict_rps: Math.round(predictRun.rps),
        predict_p99_ms: round(predictRun.half.p99),
        bare_rps: Math.round(bareRun.rps),
        features_ratio: round(featuresRun.rps / bareRun.rps),
        predict_ratio: round(predictRun.rps / bareRun.rps),
      }),
    );
  });
}

runBench(main);
