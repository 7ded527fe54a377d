import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KaizenConfig } from '../../config.js';
import { and, eq, gt, inArray, like, lte } from 'drizzle-orm';
import { WORKFLOW_IDS } from '../../constants.js';
import { retrainings } from '../../db/schema.js';
import { flightDelaysPolicy } from '../../examples/flights/continuous-training.js';
import {
  FLIGHTS_SPLIT,
  flightsTrainingSetRequest,
  writeFlightsSpine,
} from '../../examples/flights/training-set.js';
import { startRetrain } from '../../runtime/retrain-runner.js';
import { runTrainingSetBuild } from '../../runtime/training-set-runner.js';
import { DAY_MS } from '../../runtime/replay.js';
import { resultOf } from '../../runtime/workflow-runs.js';
import { loadDefinitions } from '../load-definitions.js';
import { stackLog } from '../../runtime/logging.js';
import { withRuntime } from '../runtime-context.js';
import { applyLoaded, formatApplyResult } from './apply.js';
import { replayDemo } from './demo-replay.js';
import { serveDemo } from './demo-serving.js';
import { formatResult, materializeView } from './materialize.js';
import { formatManifest } from './training-set.js';
import { formatPipelineResult } from './train.js';

const EXAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/flights');
const FLIGHTS = path.join(EXAMPLE, 'features.ts');
/** The label source, monitor policy and training pipeline: applied before training, so the profile has slice references. */
const CONTINUOUS_TRAINING = path.join(EXAMPLE, 'continuous-training.ts');
const MODEL = flightDelaysPolicy.model;
const MARCH_1 = Date.UTC(2001, 2, 1);

/**
 * The flagship demo: start (or reuse) the stack, apply the flights definitions, materialize all of
 * 3M real flights, build a point-in-time training set over every flight, train the champion with the
 * registered pipeline, serve it, replay a week of production (monitoring, an alert-triggered and a
 * scheduled retraining), then print figures and where to look in the Temporal UI.
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
      '\nContinuous training (examples/flights/continuous-training.ts): the registered pipeline as of 2001-03-01 — January and February:',
    );
    const trained = performance.now();
    const first = await resultOf(
      await startRetrain(temporalDeps, { model: MODEL, asOfMs: MARCH_1, trigger: 'manual' }),
    );
    console.log(
      `  pipeline ${MODEL}@v${first.pipelineVersion}: ${first.spineRows.toLocaleString('en-US')} labelled flights in the spine`,
    );
    console.log(formatPipelineResult(first.pipeline).replace(/^/gm, '  '));
    console.log(
      `  in ${((performance.now() - trained) / 1000).toFixed(1)} s by workflow ${WORKFLOW_IDS.retrain(MODEL, MARCH_1)}`,
    );

    console.log('\nServing (tRPC over HTTP, typed client, API key):');
    await serveDemo(ctx.config, ctx.database, MODEL);

    console.log(
      `\nThe first week of March replayed day by day: the day's flights scored by the champion and logged, labels as they land, the monitor's daily run (${flightDelaysPolicy.window} windows), alerts answered, the weekly scheduled retraining:`,
    );
    await replayDemo(
      { db: ctx.database.db, ...temporalDeps },
      {
        model: MODEL,
        policy: flightDelaysPolicy,
        dataRoot: ctx.config.dataRoot,
        artifactsDir: ctx.config.artifactsDir,
        startMs: MARCH_1,
        days: 7,
      },
    );
    // From the record, not this run's results: a second `make demo` attaches to the runs of the first.
    const week = await ctx.database.db
      .select()
      .from(retrainings)
      .where(
        and(
          eq(retrainings.modelName, MODEL),
          inArray(retrainings.trigger, ['alert', 'schedule']),
          like(retrainings.workflowId, 'retrain:%'),
          gt(retrainings.asOf, new Date(MARCH_1)),
          lte(retrainings.asOf, new Date(MARCH_1 + 7 * DAY_MS)),
        ),
      )
      .orderBy(retrainings.asOf);
    console.log('\n  Retrainings of the week (kaizen.retrainings; each a workflow in the Temporal UI):');
    for (const r of week)
      console.log(
        `    ${r.trigger.padEnd(8)} as of ${r.asOf.toISOString()}: ${r.outcome ?? 'running'}${r.version ? ` v${r.version}` : ''} · workflow ${r.workflowId}`,
      );
    for (const trigger of ['alert', 'schedule'])
      if (!week.some((r) => r.trigger === trigger))
        throw new Error(`the replayed week ran no ${trigger}-triggered retraining: expected one`);

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
