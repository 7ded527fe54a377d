/**
 * Records workflow histories for the replay test (test/replay.test.ts). Re-run and commit the output
 * whenever a workflow changes on purpose: `node --import tsx scripts/record-histories.ts`.
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
import { setAlias } from '../models/registry.js';
import {
  approveSignal,
  buildTrainingSetWorkflow,
  materializeWorkflow,
  pipelineStageQuery,
  scheduledMaterializeWorkflow,
  trainingPipelineWorkflow,
  type TrainingPipelineInput,
} from '../workflows/index.js';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test/histories');
const WEEK = 7 * 86_400_000;
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

async function main() {
  installCliLogging();
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
    const record = async (handle: { workflowId: string; result(): Promise<unknown> }) => {
      await handle.result();
      const file = path.join(OUT, `${handle.workflowId}.json`);
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
    await record(
      await client.workflow.start(buildTrainingSetWorkflow, {
        workflowId: 'build-training-set-history',
        taskQueue,
        args: [
          {
            spine: {
              path: path.join(home, 'spine.csv'),
              entities: [{ entity: 'airport', columns: ['airport'] }],
              tsColumn: 'ts',
            },
            features: [{ view: 'delays', feature: 'delay' }],
            out: path.join(home, 'training-set.arrow'),
            shards: 2,
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
