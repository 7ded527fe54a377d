import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KaizenConfig } from '../../config.js';
import {
  FLIGHTS_SPLIT,
  flightsTrainingSetRequest,
  writeFlightsSpine,
} from '../../examples/flights/training-set.js';
import { runTrainingPipeline } from '../../runtime/training-pipeline-runner.js';
import { runTrainingSetBuild } from '../../runtime/training-set-runner.js';
import { runBatchScore } from '../../runtime/batch-score-runner.js';
import { planWindows } from '../../runtime/monitor-runner.js';
import { loadDefinitions } from '../load-definitions.js';
import { stackLog } from '../../runtime/logging.js';
import { withRuntime } from '../runtime-context.js';
import { applyLoaded, formatApplyResult } from './apply.js';
import { monitorWindows } from './monitor.js';
import { formatBatchScoreResult } from './score.js';
import { serveDemo } from './demo-serving.js';
import { formatResult, materializeView } from './materialize.js';
import { formatManifest } from './training-set.js';

const EXAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/flights');
const FLIGHTS = path.join(EXAMPLE, 'features.ts');
/** The label source and monitor policy: applied before training, so the profile has slice references. */
const CONTINUOUS_TRAINING = path.join(EXAMPLE, 'continuous-training.ts');
const JUNE = { startMs: Date.UTC(2001, 5, 1), endMs: Date.UTC(2001, 6, 1) };
const WEEK_MS = 7 * 86_400_000;

/**
 * The flagship demo: start (or reuse) the stack, apply the flights definitions, materialize all of
 * 3M real flights, build a point-in-time training set over every flight, then print figures and
 * where to look in the Temporal UI.
 */
export async function demoCommand(config: KaizenConfig, opts: { keep?: boolean }): Promise<void> {
  const defs = await loadDefinitions(FLIGHTS);
  const monitoring = await loadDefinitions(CONTINUOUS_TRAINING);
  await withRuntime(config, { temporal: true, worker: true, log: stackLog }, async (ctx) => {
    for (const [file, loaded] of [
      [FLIGHTS, defs],
      [CONTINUOUS_TRAINING, monitoring],
    ] as const) {
      console.log(`\nApplying ${path.relative(process.cwd(), file)}`);
      for (const r of await applyLoaded(ctx, loaded))
        for (const l of formatApplyResult(r)) console.log(`  ${l}`);
    }
    console.log('\nMaterializing (Temporal workflows, chunked, exactly-once):');
    const started = performance.now();
    let rows = 0;
    for (const view of defs.views) {
      const run = await materializeView(ctx, view.name);
      rows += run.result.rowsWritten;
      console.log(`  ${formatResult(run.result)}`);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `\nTotal: ${rows.toLocaleString('en-US')} feature rows in ${seconds.toFixed(1)} s (${Math.round(rows / seconds).toLocaleString('en-US')} rows/s)`,
    );

    console.log('\nBuilding a point-in-time-correct training set (every flight, 2 shards, time split):');
    const spine = path.join(ctx.config.artifactsDir, 'flights-spine.arrow');
    await writeFlightsSpine(ctx.config.dataRoot, spine);
    const built = performance.now();
    const trainingSet = flightsTrainingSetRequest(
      spine,
      path.join(ctx.config.artifactsDir, 'flights-training-set.arrow'),
      { split: FLIGHTS_SPLIT, shards: 2 },
    );
    const temporalDeps = { temporal: ctx.temporal!, taskQueue: ctx.config.taskQueue };
    const { manifest, workflowId } = await runTrainingSetBuild(temporalDeps, trainingSet);
    console.log(formatManifest(manifest).replace(/^/gm, '  '));
    console.log(`  built in ${((performance.now() - built) / 1000).toFixed(1)} s by workflow ${workflowId}`);
    console.log(`  kaizen training-set show ${manifest.id}`);

    console.log(
      '\nContinuous training: train the built-in MLP, evaluate against the champion, gate, promote:',
    );
    const trained = performance.now();
    const pipeline = await runTrainingPipeline(temporalDeps, {
      model: 'flight_delays',
      trainingSet,
      label: 'delayed',
      trainer: { kind: 'builtin', params: { kind: 'mlp', hidden: [64, 32], maxEpochs: 4, patience: 2 } },
      gates: { maxAucDrop: 0.01, maxFairnessGapIncrease: 0.05 },
    });
    const { result } = pipeline;
    const auc = (e?: { overall: { auc: number } }) => (e ? e.overall.auc.toFixed(3) : '—');
    console.log(
      `  flight_delays@v${result.version}: ${result.status}${result.reasons.length ? ` (${result.reasons.join('; ')})` : ''}`,
    );
    console.log(
      `  test AUC (June flights): challenger ${auc(result.evaluation.challenger)}, champion before ${auc(result.evaluation.champion)}, majority baseline 0.500`,
    );
    console.log(
      `  in ${((performance.now() - trained) / 1000).toFixed(1)} s by workflow ${pipeline.workflowId}`,
    );

    console.log('\nServing (tRPC over HTTP, typed client, API key):');
    await serveDemo(ctx.config, ctx.database, 'flight_delays');

    console.log(
      "\nMonitoring: June's flights scored in batch and logged, their labels joined as they land, weekly windows:",
    );
    const june = path.join(ctx.config.artifactsDir, 'flights-june-spine.arrow');
    await writeFlightsSpine(ctx.config.dataRoot, june, JUNE);
    const scored = await runBatchScore(temporalDeps, {
      model: 'flight_delays',
      spine: { path: june },
      out: path.join(ctx.config.artifactsDir, 'flights-june-scores.arrow'),
      log: true,
      shards: 2,
    });
    console.log(
      `${formatBatchScoreResult(scored.result).replace(/^/gm, '  ')}\n  workflow ${scored.workflowId}\n`,
    );
    await monitorWindows(
      { db: ctx.database.db, ...temporalDeps },
      'flight_delays',
      planWindows(JUNE.startMs, JUNE.endMs, WEEK_MS),
      Date.now(),
      (text) => console.log(text.replace(/^/gm, '  ')),
    );
    console.log(
      '  kaizen monitor flight_delays --since 2001-06-01 --until 2001-07-01   (the same, from the CLI)',
    );

    const ui = ctx.temporalUiUrl
      ? `${ctx.temporalUiUrl}/namespaces/${ctx.config.temporal.namespace}/workflows`
      : undefined;
    if (ui) console.log(`Temporal UI: ${ui}`);
    if (opts.keep) {
      console.log('Stack kept running (--keep); Ctrl-C to stop.');
      await new Promise<void>((resolve) => process.once('SIGINT', resolve));
    } else if (ctx.stack) {
      console.log('The embedded stack stops now; `kaizen dev` brings it (and these runs in the UI) back.');
    }
  });
}
