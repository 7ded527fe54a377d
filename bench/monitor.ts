/**
 * bench:monitor — one monitor window over 3M logged flight predictions (every flight of Jan–Jun
 * 2001 scored in batch by the flights model and logged, their labels ingested and joined), against
 * the I/O limit: reading the same rows out of Postgres and doing nothing. Ends with one JSON line.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { flightDelayed, flightDelaysPolicy } from '../examples/flights/continuous-training.js';
import { flightsTrainingSetRequest, FLIGHTS_SPLIT } from '../examples/flights/training-set.js';
import { getModelVersion } from '../models/registry.js';
import { applyMonitoringDefinitions } from '../monitoring/registry.js';
import { runBatchScore } from '../runtime/batch-score-runner.js';
import { runMonitorWindow } from '../runtime/monitor-runner.js';
import { runTrainingPipeline } from '../runtime/training-pipeline-runner.js';
import { log, round, runBench, withBenchStack } from './bench-stack.js';
import { prepareFlights } from './flights-setup.js';

const MODEL = 'flight_delays';
const START = Date.UTC(2001, 0, 1);
const END = Date.UTC(2001, 6, 1);
const HERE = path.dirname(fileURLToPath(import.meta.url));

async function main() {
  await withBenchStack('monitor', async (stack) => {
    const { config, temporal, work, database, databaseUrl } = stack;
    const deps = { temporal, taskQueue: config.taskQueue };
    const spine = await prepareFlights(stack);
    await applyMonitoringDefinitions(database.db, {
      labelSources: [flightDelayed],
      monitorPolicies: [flightDelaysPolicy],
    });
    log('training the flights model (logistic regression, Jan–Apr)…');
    const trainingSet = flightsTrainingSetRequest(spine, path.join(work, 'flights.arrow'), {
      split: FLIGHTS_SPLIT,
      shards: 2,
    });
    const trained = await runTrainingPipeline(deps, {
      model: MODEL,
      trainingSet,
      label: 'delayed',
      trainer: { kind: 'builtin', params: { kind: 'logistic', maxEpochs: 3 } },
    });
    log(`  v${trained.result.version}: ${trained.result.status}`);

    log('scoring and logging every flight (kaizen score --log)…');
    let started = performance.now();
    const scored = await runBatchScore(deps, {
      model: MODEL,
      spine: { path: spine },
      out: path.join(work, 'scores.arrow'),
      log: true,
      shards: 2,
    });
    const scoreSeconds = (performance.now() - started) / 1000;
    log(`  ${scored.result.rows} predictions logged in ${scoreSeconds.toFixed(1)} s`);

    log('the monitor workflow over all of them (labels ingested and joined first)…');
    started = performance.now();
    const first = await runMonitorWindow(deps, {
      model: MODEL,
      startMs: START,
      endMs: END,
      asOfMs: Date.now(),
    });
    const workflowSeconds = (performance.now() - started) / 1000;
    log(
      `  ${first.summary.versions[0]?.labelled} labelled, in ${workflowSeconds.toFixed(1)} s (${first.workflowId})`,
    );

    log('measuring the window alone, beside its I/O limit (separate process)…');
    const child = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(HERE, 'monitor-window.ts'),
        databaseUrl,
        MODEL,
        String(START),
        String(END),
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const { runs, maxRssBytes } = JSON.parse(child.trim().split('\n').pop()!) as {
      runs: Array<{ drainSeconds: number; monitorSeconds: number; bytes: number; rows: number }>;
      maxRssBytes: number;
    };
    const inputs = ((await getModelVersion(database.db, MODEL, 'champion')).features as string[]).length;
    const best = (key: 'drainSeconds' | 'monitorSeconds') => Math.min(...runs.map((r) => r[key]));
    const rows = runs[0].rows;
    const summary = first.summary.versions[0];
    console.log(
      JSON.stringify({
        rows,
        inputs,
        // The inputs, the score and the label.
        monitored_columns: inputs + 2,
        monitor_seconds: round(best('monitorSeconds')),
        monitor_rows_per_s: Math.round(rows / best('monitorSeconds')),
        io_limit_seconds: round(best('drainSeconds')),
        io_limit_rows_per_s: Math.round(rows / best('drainSeconds')),
        ratio: round(best('drainSeconds') / best('monitorSeconds')),
        copy_bytes: runs[0].bytes,
        peak_rss_mb: Math.round(maxRssBytes / 2 ** 20),
        workflow_seconds: round(workflowSeconds),
        score_and_log_seconds: round(scoreSeconds),
        labelled: summary?.labelled ?? 0,
        auc: summary?.auc === null || summary?.auc === undefined ? null : round(summary.auc),
        estimated_auc:
          summary?.estimatedAuc === null || summary?.estimatedAuc === undefined
            ? null
            : round(summary.estimatedAuc),
      }),
    );
  });
}

runBench(main);
