/**
 * Records workflow histories for the replay test (test/replay.test.ts). Re-run and commit the output
 * whenever a workflow changes on purpose: `node --import tsx scripts/record-histories.ts`. It rewrites
 * every file (timestamps, run IDs and temp paths differ each time): restore those of workflows that
 * did not change (`git checkout -- test/histories/<file>`), so a diff shows only what was re-recorded.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { createWorkerActivities } from '../activities/index.js';
import { loadConfig } from '../config.js';
import { connectDatabase, runMigrations } from '../db/client.js';
import { createFeatureStore, defineEntity, defineFeatureView } from '../feature-store/index.js';
import { startDevStack } from '../runtime/dev-stack.js';
import { installCliLogging } from '../runtime/logging.js';
import { connectClient, startWorker } from '../runtime/temporal.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { getModelVersion, setAlias } from '../models/registry.js';
import { WORKFLOW_IDS } from '../constants.js';
import { defineLabelSource } from '../monitoring/labels/label-source.js';
import { defineMonitorPolicy } from '../monitoring/policy.js';
import { applyMonitoringDefinitions } from '../monitoring/registry.js';
import { recordAlerts } from '../monitoring/results.js';
import { runBatchScore } from '../runtime/batch-score-runner.js';
import { erasureWorkflowId } from '../runtime/erasure-runner.js';
import { startRetrain } from '../runtime/retrain-runner.js';
import { defineTrainingPipeline } from '../training/pipeline.js';
import { applyTrainingPipelines } from '../training/registry.js';
import {
  approveSignal,
  buildTrainingSetWorkflow,
  materializeWorkflow,
  pipelineStageQuery,
  respondToAlertsWorkflow,
  scheduledMaterializeWorkflow,
  eraseEntityWorkflow,
  retentionWorkflow,
  scheduledMonitorWorkflow,
  scheduledTrainWorkflow,
  trainingPipelineWorkflow,
  type AlertResponseResult,
  type TrainingPipelineInput,
} from '../workflows/index.js';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test/histories');
const DAY = 86_400_000;
const WEEK = 7 * DAY;
/** The model of the continuous-training histories (retrain, schedules, monitor, alert responses). */
const CT_MODEL = 'hourly';
const CSV = [
  'ts,airport,delay',
  '2001-01-02T09:00:00Z,SFO,12',
  '2001-01-09T10:00:00Z,SFO,7',
  '2001-01-16T10:00:00Z,OAK,3',
].join('\n');
const SPINE = [
  'ts,airport',
  '2001-01-09T12:00:00Z,SFO',
  '2001-01-17T00:00:00Z,OAK',
  '2001-01-17T00:00:00Z,',
].join('\n');

/** Hourly delays of two airports over three weeks, and a labelled spine at the same hours (pipeline). */
function hourlyDelays(): { csv: string; spine: string } {
  const rows = ['ts,airport,delay'];
  const spine = ['ts,airport,delayed'];
  for (let h = 0; h < 21 * 24; h++) {
    const ts = new Date(Date.UTC(2001, 0, 1) + h * 3_600_000).toISOString();
    for (const [k, airport] of ['SFO', 'OAK'].entries()) {
      const delay = ((h * 37 + k * 11) % 60) - 10;
      rows.push(`${ts},${airport},${delay}`);
      spine.push(`${ts},${airport},${delay > 10 ? 1 : 0}`);
    }
  }
  return { csv: rows.join('\n'), spine: spine.join('\n') };
}

/** A scoring spine of both airports at every hour of [startMs, endMs). */
function hourlySpine(startMs: number, endMs: number): string {
  const rows = ['ts,airport'];
  for (let t = startMs; t < endMs; t += 3_600_000)
    for (const airport of ['SFO', 'OAK']) rows.push(`${new Date(t).toISOString()},${airport}`);
  return rows.join('\n');
}

async function main() {
  await installCliLogging();
  const home = mkdtempSync(path.join(os.tmpdir(), 'kaizen-histories-'));
  writeFileSync(path.join(home, 'delays.csv'), CSV);
  writeFileSync(path.join(home, 'late.csv'), `${CSV}\n2000-12-26T09:00:00Z,OAK,5`);
  writeFileSync(path.join(home, 'spine.csv'), SPINE);
  const hourly = hourlyDelays();
  writeFileSync(path.join(home, 'hourly.csv'), hourly.csv);
  writeFileSync(path.join(home, 'labelled-spine.csv'), hourly.spine);
  const config = loadConfig({ ...process.env, KAIZEN_HOME: home, KAIZEN_DATA_ROOT: home });
  const stack = await startDevStack(config, { ephemeral: true });
  const database = connectDatabase(stack.databaseUrl);
  try {
    await runMigrations(database);
    const airport = defineEntity({ name: 'airport', joinKey: 'airport' });
    const view = defineFeatureView({
      name: 'delays',
      entities: [airport],
      source: { kind: 'csv', path: 'delays.csv', timestampField: 'ts' },
      features: { delay: 'float64' },
    });
    const hourlyView = defineFeatureView({
      name: 'hourly_delays',
      entities: [airport],
      source: { kind: 'csv', path: 'hourly.csv', timestampField: 'ts' },
      features: { delay: 'float64' },
    });
    const lateView = defineFeatureView({
      name: 'late_delays',
      entities: [airport],
      source: { kind: 'csv', path: 'late.csv', timestampField: 'ts' },
      features: { delay: 'float64' },
    });
    const store = createFeatureStore({ db: database.db, dataRoot: home });
    await store.apply({ entities: [airport], views: [view, hourlyView, lateView] });
    const taskQueue = 'record-histories';
    const worker = await startWorker(config.temporal, stack.temporalAddress, {
      taskQueue,
      activities: createWorkerActivities(
        database,
        { dataRoot: home, artifactsDir: path.join(home, 'artifacts') },
        { now: () => Date.UTC(2001, 0, 12) },
      ),
    });
    const client = await connectClient(config.temporal, stack.temporalAddress);
    const start = Date.UTC(2000, 11, 28);
    const chunks = [0, 1, 2].map((k) => ({ startMs: start + k * WEEK, endMs: start + (k + 1) * WEEK }));
    /** Waits for the run and writes its history to `<name>.json` (IDs with ':' need a file name). */
    const record = async (
      handle: { workflowId: string; result(): Promise<unknown> },
      name = handle.workflowId,
    ) => {
      await handle.result();
      const file = path.join(OUT, `${name}.json`);
      // The Temporal CLI's JSON is the format replay expects (historyFromJSON).
      const json = execFileSync(config.temporal.binary, [
        'workflow',
        'show',
        '--address',
        stack.temporalAddress,
        '--namespace',
        config.temporal.namespace,
        '--workflow-id',
        handle.workflowId,
        '--output',
        'json',
      ]);
      writeFileSync(file, json);
      console.log(`wrote ${path.relative(process.cwd(), file)}`);
    };
    await record(
      await client.workflow.start(materializeWorkflow, {
        workflowId: 'materialize-history',
        taskQueue,
        args: [{ view: 'delays', version: 1, chunks, maxConcurrency: 2 }],
      }),
    );
    // The schedule's run as of Jan 12 with weeks [Dec 21, Dec 28) and [Dec 28, Jan 4) committed and a
    // row of the first arriving late: it revises that week and materializes the due [Jan 4, Jan 11).
    await client.workflow.execute(materializeWorkflow, {
      workflowId: 'materialize-late-weeks',
      taskQueue,
      args: [
        { view: 'late_delays', version: 1, chunks: [{ startMs: start - WEEK, endMs: start }, chunks[0]] },
      ],
    });
    appendFileSync(path.join(home, 'late.csv'), '\n2000-12-27T18:00:00Z,SFO,25');
    await record(
      await client.workflow.start(scheduledMaterializeWorkflow, {
        workflowId: 'scheduled-materialize-history',
        taskQueue,
        args: [{ view: 'late_delays' }],
      }),
    );
    // Two shards (plan, a join per shard, finalize), then one (the default: one activity, behind its
    // patch marker).
    for (const [workflowId, shards] of [
      ['build-training-set-history', 2],
      ['build-training-set-one-shard', undefined],
    ] as const)
      await record(
        await client.workflow.start(buildTrainingSetWorkflow, {
          workflowId,
          taskQueue,
          args: [
            {
              spine: {
                path: path.join(home, 'spine.csv'),
                entities: [{ entity: 'airport', columns: ['airport'] }],
                tsColumn: 'ts',
              },
              features: [{ view: 'delays', feature: 'delay' }],
              out: path.join(home, `${workflowId}.arrow`),
              shards,
            },
          ],
        }),
      );
    await record(
      await client.workflow.start(materializeWorkflow, {
        workflowId: 'materialize-hourly',
        taskQueue,
        args: [{ view: 'hourly_delays', version: 1, chunks, maxConcurrency: 2 }],
      }),
    );
    // Every branch of the training pipeline: promoted, rejected by a gate, approval timed out, and a
    // promotion that lost its compare-and-set to an operator's change while awaiting approval.
    const pipeline = (workflowId: string, seed: number, extra: Partial<TrainingPipelineInput> = {}) =>
      client.workflow.start(trainingPipelineWorkflow, {
        workflowId,
        taskQueue,
        args: [
          {
            model: 'delays',
            trainingSet: {
              spine: {
                path: path.join(home, 'labelled-spine.csv'),
                entities: [{ entity: 'airport', columns: ['airport'] }],
                tsColumn: 'ts',
                labelColumn: 'delayed',
              },
              features: [{ view: 'hourly_delays', feature: 'delay' }],
              split: { trainEndMs: Date.UTC(2001, 0, 10), validEndMs: Date.UTC(2001, 0, 15) },
              out: path.join(home, 'pipeline.arrow'),
            },
            label: 'delayed',
            // Seeds differ so every run registers a version of its own.
            trainer: { kind: 'builtin', params: { kind: 'logistic', maxEpochs: 3, seed } },
            ...extra,
          },
        ],
      });
    const anyAuc = { maxAucDrop: 1 };
    await record(await pipeline('training-pipeline-promoted', 1));
    await record(await pipeline('training-pipeline-rejected', 2, { gates: { minAuc: 0.9999 } }));
    await record(
      await pipeline('training-pipeline-approval-timeout', 3, {
        gates: anyAuc,
        approvalTimeout: '2 seconds',
      }),
    );
    const conflict = await pipeline('training-pipeline-conflict', 4, {
      gates: anyAuc,
      approvalTimeout: '1 hour',
    });
    while ((await conflict.query(pipelineStageQuery)) !== 'awaiting approval') await sleep(200);
    // An operator moves the champion meanwhile: the approved promotion's compare-and-set must lose.
    await setAlias(database.db, {
      model: 'delays',
      alias: 'champion',
      version: 2,
      actor: 'operator',
      reason: 'manual change while a pipeline awaits approval',
    });
    await conflict.signal(approveSignal, { approved: true, by: 'recorder' });
    await record(conflict);

    // Continuous training of a model on the hourly delays: its labels (delayed: over 10 minutes)
    // known an hour after each hour, and the same with the label inverted (a flipped world).
    const late = defineLabelSource({
      name: 'hourly_late',
      entities: [airport],
      source: { kind: 'csv', path: 'hourly.csv', timestampField: 'ts' },
      label: { column: 'delay', compare: { op: '>', value: 10 } },
      known: { after: '1h' },
      horizon: '1h',
    });
    const inverted = defineLabelSource({
      ...late,
      name: 'hourly_late_inverted',
      label: { column: 'delay', compare: { op: '<=', value: 10 } },
    });
    const policy = defineMonitorPolicy({
      model: CT_MODEL,
      labels: late.name,
      window: '1d',
      minRows: 20,
      minLabelled: 20,
    });
    const ctPipeline = (labels: string) =>
      defineTrainingPipeline({
        model: CT_MODEL,
        labels,
        features: ['hourly_delays:delay'],
        split: { train: '10d', validation: '2d', test: '2d' },
        // Small batches: a few hundred rows, so that a few epochs learn the label's direction.
        trainer: {
          kind: 'builtin',
          params: { kind: 'logistic', maxEpochs: 10, batchSize: 32, learningRate: 0.05, seed: 1 },
        },
        // Shorter than the days between the runs below: each alert response may act.
        retraining: { cooldown: '6h' },
      });
    await applyMonitoringDefinitions(database.db, {
      labelSources: [late, inverted],
      monitorPolicies: [policy],
    });
    await applyTrainingPipelines(database.db, [ctPipeline(late.name)]);
    const deps = { temporal: client, taskQueue };
    // 1. A manual retraining as of Jan 14: the model's first version, promoted.
    await record(
      await startRetrain(deps, { model: CT_MODEL, asOfMs: Date.UTC(2001, 0, 14), trigger: 'manual' }),
      'retrain-history',
    );
    // 2. The world flips: the scheduled run as of Jan 15 retrains on the inverted labels, and its
    // version (v2) beats v1 there and becomes champion.
    await applyTrainingPipelines(database.db, [ctPipeline(inverted.name)]);
    await record(
      await client.workflow.start(scheduledTrainWorkflow, {
        workflowId: WORKFLOW_IDS.scheduledTrain(CT_MODEL),
        taskQueue,
        args: [{ model: CT_MODEL, asOfMs: Date.UTC(2001, 0, 15) }],
      }),
      'scheduled-train-history',
    );
    const champion = async () => (await getModelVersion(database.db, CT_MODEL, 'champion')).version;
    if ((await champion()) !== 2) throw new Error(`expected v2 champion, got v${await champion()}`);
    // ... and flips back: v2 serves Jan 16 (logged) while the labels are January's again.
    await applyTrainingPipelines(database.db, [ctPipeline(late.name)]);
    writeFileSync(
      path.join(home, 'serve-spine.csv'),
      hourlySpine(Date.UTC(2001, 0, 16), Date.UTC(2001, 0, 17)),
    );
    const served = await runBatchScore(deps, {
      model: CT_MODEL,
      spine: {
        path: path.join(home, 'serve-spine.csv'),
        entities: [{ entity: 'airport', columns: ['airport'] }],
        tsColumn: 'ts',
      },
      out: path.join(home, 'served.arrow'),
      log: true,
    });
    await record(client.workflow.getHandle(served.workflowId), 'batch-score-history');
    // 3. The scheduled monitor as of Jan 17 12:00 judges [Jan 15, Jan 16) (no predictions) and
    // [Jan 16, Jan 17): v2's realized AUC collapses, a performance alert, whose response re-promotes
    // v1 without training.
    const monitorAsOf = Date.UTC(2001, 0, 17, 12);
    await record(
      await client.workflow.start(scheduledMonitorWorkflow, {
        workflowId: WORKFLOW_IDS.scheduledMonitor(CT_MODEL),
        taskQueue,
        args: [{ model: CT_MODEL, windowMs: DAY, everyMs: DAY, asOfMs: monitorAsOf }],
      }),
      'scheduled-monitor-history',
    );
    const alerted = { startMs: Date.UTC(2001, 0, 16), endMs: Date.UTC(2001, 0, 17) };
    await record(
      client.workflow.getHandle(WORKFLOW_IDS.monitor(CT_MODEL, alerted.startMs, alerted.endMs)),
      'monitor-model-alerted',
    );
    const response = client.workflow.getHandle(WORKFLOW_IDS.alertResponse(CT_MODEL));
    const repromoted = (await response.result()) as AlertResponseResult;
    if (repromoted.repromotion?.promoted !== 1 || repromoted.retraining !== null)
      throw new Error(`expected v1 re-promoted, no retraining: ${JSON.stringify(repromoted)}`);
    await record(response, 'respond-to-alerts-repromoted');
    await record(
      client.workflow.getHandle(
        WORKFLOW_IDS.repromote(CT_MODEL, alerted.startMs, alerted.endMs, monitorAsOf),
      ),
      'repromote-history',
    );
    // 4. An alert on the champion (v1) for [Jan 17, Jan 18), inserted here (v1 predicts January's
    // labels perfectly: no monitor run of it would alert). The response as of Jan 18 tries the
    // earlier version (v2), which does not beat v1 on the window, then retrains as of Jan 18.
    const suspect = { model: CT_MODEL, startMs: Date.UTC(2001, 0, 17), endMs: Date.UTC(2001, 0, 18) };
    const [alert] = await recordAlerts(
      database.db,
      { ...suspect, asOfMs: suspect.endMs, computedBy: 'record-histories' },
      await champion(),
      null,
      [
        {
          kind: 'performance',
          subject: '',
          driftType: null,
          message: 'performance of the whole window (inserted by scripts/record-histories.ts)',
          figures: {},
        },
      ],
    );
    const retrained = await client.workflow.start(respondToAlertsWorkflow, {
      workflowId: WORKFLOW_IDS.alertResponse(CT_MODEL),
      taskQueue,
      args: [{ model: CT_MODEL, alertIds: [alert.id], asOfMs: suspect.endMs }],
    });
    const answer = await retrained.result();
    if (answer.repromotion?.promoted !== null || answer.retraining === null)
      throw new Error(`expected no re-promotion and a retraining: ${JSON.stringify(answer)}`);
    await record(retrained, 'respond-to-alerts-retrained');
    // 5. An erasure of one airport: stores, training sets, the prediction log and labels without it.
    await record(
      await client.workflow.start(eraseEntityWorkflow, {
        workflowId: erasureWorkflowId('airport', ['OAK']),
        taskQueue,
        args: [
          { entity: 'airport', parts: ['OAK'], requestedBy: 'record-histories', reason: 'a replay history' },
        ],
      }),
      'erase-entity-history',
    );
    // 6. A retention run: the hourly view's rows before Jan 1, and the prediction log (all of it, as
    // of a day after it was logged, keeping an hour).
    await record(
      await client.workflow.start(retentionWorkflow, {
        workflowId: 'retention-history',
        taskQueue,
        args: [{ views: { hourly_delays: '5d' }, predictions: '1h', asOfMs: Date.UTC(2001, 0, 6) }],
      }),
    );
    await worker.shutdown();
    await client.connection.close();
  } finally {
    await database.close();
    await stack.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
