/**
 * Batch scoring (`kaizen score`): the batch-score workflow scores a spine through the offline
 * point-in-time path with the champion's ONNX graph and agrees with online `predict` on the same
 * rows; `--log` writes the rows to the prediction log shaped as `predict` logs them, exactly once
 * however often it runs; bad input fails the workflow at once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { tableFromIPC, tableToIPC, type Table } from 'apache-arrow';
import { z } from 'zod';
import { createActivities } from '../activities/index.js';
import type { ScoringModel } from '../activities/scoring.js';
import { flightFeatureRefs } from '../examples/flights/training-set.js';
import { decodeVector, rawToColumn, type Column } from '../feature-store/index.js';
import { featureColumnName } from '../feature-store/refs/feature-ref.js';
import { runBatchScore } from '../runtime/batch-score-runner.js';
import { createCaller } from '../serving/router.js';
import type { BatchScoreInput, BatchScoreResult } from '../workflows/index.js';
import { AS_OF, startFlightsChampion, type FlightsChampion } from './support/flights-champion.js';
import { assertWorkflowFails } from './support/temporal.js';

const KAIZEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/kaizen');
const FLIGHTS = 1000;
const MODEL = 'batch_scored';
/** The flights features plus a text input (the airport's state), which logs keep in `features`. */
const FEATURES = [...flightFeatureRefs(), { view: 'airport_info', feature: 'state' }];

interface LoggedRow {
  id: string;
  version: number;
  source: string;
  entities: Record<string, unknown>;
  event_ts: Date;
  score: number;
  decision: boolean;
  features: Record<string, unknown> | null;
  inputs: Array<number | null>;
  latency_ms: number | null;
  api_key_id: string | null;
}

function readScores(file: string) {
  const table = tableFromIPC(readFileSync(file));
  const values = <T>(name: string) =>
    Array.from({ length: table.numRows }, (_, i) => table.getChild(name)!.get(i) as T);
  return {
    columns: table.schema.fields.map((f) => f.name),
    score: values<number>('score'),
    decision: values<boolean>('decision'),
    ids: table.getChild('prediction_id') ? values<string>('prediction_id') : undefined,
  };
}

describe('batch scoring: kaizen score (Postgres + Temporal)', () => {
  let fixture: FlightsChampion;
  /** The first run (logging, 3 shards): every later check compares with it. */
  let first: BatchScoreResult;

  const score = (input: Partial<BatchScoreInput> & { out: string }) =>
    runBatchScore(
      { temporal: fixture.env.worker.client, taskQueue: fixture.env.worker.taskQueue },
      { model: MODEL, spine: { path: fixture.spinePath }, ...input },
    );
  const logged = async (source: 'batch' | 'online') =>
    (
      await fixture.env.database.pool.query<LoggedRow>(
        `SELECT id, version, source, entities, event_ts, score, decision, features, inputs, latency_ms, api_key_id
         FROM kaizen.predictions WHERE model_name = $1 AND source = $2`,
        [MODEL, source],
      )
    ).rows;

  before(async () => {
    fixture = await startFlightsChampion({ model: MODEL, features: FEATURES, flights: FLIGHTS });
  });

  after(async () => {
    await fixture?.close();
  });

  test(`scores of ${FLIGHTS} spine rows equal predict on the same rows (1e-6); --log logs them as predict does`, async () => {
    const { env, sample, spineRows, deps } = fixture;
    // No mapping given: the training spine's (entities, ts, request fields) applies.
    const out = path.join(env.dataRoot, 'scores.arrow');
    const run = await score({ out, log: true, shards: 3 });
    first = run.result;
    assert.match(run.workflowId, /^score:batch_scored:[0-9a-f]{16}$/);
    assert.deepEqual(
      { ...first, trainingSetId: first.trainingSetId.slice(0, 3) },
      { model: MODEL, version: 1, rows: FLIGHTS, out, logged: true, trainingSetId: 'ts_' },
    );
    const scored = readScores(out);
    assert.deepEqual(scored.columns, [
      ...['asof', 'departure', 'origin', 'destination', 'delayed'],
      ...['score', 'decision', 'prediction_id'],
    ]);

    // Online predict on the same rows: online features as of AS_OF, the departure from the request.
    const caller = createCaller({ deps, key: { id: 't', name: 't', scopes: ['predict'] } });
    const entities = spineRows.map((r) => ({
      airport: sample.origin[r],
      route: [sample.origin[r], sample.destination[r]],
      departure: new Date(sample.date[r]).toISOString(),
    }));
    const served: Array<{ id: string; score: number }> = [];
    for (let from = 0; from < FLIGHTS; from += 250) {
      const answer = await caller.predict({ model: MODEL, entities: entities.slice(from, from + 250) });
      assert.equal(answer.version, 1);
      served.push(...answer.predictions);
    }
    let maxDiff = 0;
    for (let i = 0; i < FLIGHTS; i++)
      maxDiff = Math.max(maxDiff, Math.abs(served[i].score - scored.score[i]));
    assert.ok(maxDiff <= 1e-6, `max |predict - batch| = ${maxDiff}`);

    // Not vacuous: the features scored on are mostly present (the text input too), and scores vary.
    const features: Table = tableFromIPC(
      readFileSync((await env.store.getTrainingSet(first.trainingSetId)).path),
    );
    for (const [view, feature] of [
      ['airport_departures', 'departures_1h'],
      ['route_delays', 'mean_delay_7d'],
      ['airport_info', 'state'],
      ['departure_time', 'hour_of_day'],
    ]) {
      const column = features.getChild(featureColumnName(view, feature))!;
      assert.ok(
        column.length - column.nullCount > FLIGHTS / 2,
        `${view}:${feature}: ${column.nullCount} nulls`,
      );
    }
    assert.ok(new Set(scored.score).size > 50, 'scores vary across flights');
    scored.decision.forEach((decision, i) => assert.equal(decision, scored.score[i] >= 0.5, `row ${i}`));

    // The log: one batch row per spine row under the file's prediction id, with the file's score.
    await deps.predictionLog.flush();
    const batch = new Map((await logged('batch')).map((row) => [row.id, row]));
    const online = new Map((await logged('online')).map((row) => [row.id, row]));
    assert.equal(batch.size, FLIGHTS);
    assert.equal(online.size, FLIGHTS);
    // The model's input order: its training set's feature columns.
    const inputNames = fixture.manifest.features.map((f) => f.column);
    const inputs: Column[] = inputNames.map((name) =>
      rawToColumn(decodeVector(features.getChild(name)!, FLIGHTS), 'float64'),
    );
    const state = inputs[inputNames.indexOf('airport_info__state')];
    for (let i = 0; i < FLIGHTS; i++) {
      const id = scored.ids![i];
      assert.ok(z.uuid().safeParse(id).success, `row ${i}: ${id} is a UUID`);
      const row = batch.get(id);
      assert.ok(row, `row ${i}: ${id} is logged`);
      assert.deepEqual(
        { ...row, event_ts: row.event_ts.getTime() },
        {
          id,
          version: 1,
          source: 'batch',
          entities: entities[i],
          // The time the features were looked up at: the spine's ts.
          event_ts: AS_OF,
          score: scored.score[i],
          decision: scored.decision[i],
          features: { airport_info__state: state.valid[i] ? state.values[i] : null },
          inputs: inputs.map((column) =>
            column.type === 'string' || !column.valid[i] ? null : column.values[i],
          ),
          latency_ms: null,
          api_key_id: null,
        },
        `row ${i}`,
      );
      // Shaped as predict logs the same row.
      const servedRow = online.get(served[i].id)!;
      assert.deepEqual(
        { entities: row.entities, features: row.features, inputs: row.inputs },
        { entities: servedRow.entities, features: servedRow.features, inputs: servedRow.inputs },
        `row ${i}: batch and online log rows`,
      );
    }
  });

  test('scoring again (the same run, another file and shard count, a part on its own) logs nothing twice', async () => {
    const { env } = fixture;
    const before = readScores(first.out);
    // The same request: a new run under the same workflow ID.
    await score({ out: first.out, log: true, shards: 3 });
    // Another output file and shard count: the same features, so the same prediction ids.
    const again = path.join(env.dataRoot, 'again.arrow');
    const other = await score({ out: again, log: true, shards: 1 });
    assert.equal(other.result.trainingSetId, first.trainingSetId);
    assert.deepEqual(readScores(again), before, 'the same scores and ids whatever the shard count');
    assert.equal((await logged('batch')).length, FLIGHTS);

    // A part activity run again by itself (a retry after its commit): writes nothing new.
    const activities = createActivities({
      database: env.database,
      store: env.store,
      artifactsDir: path.join(env.dataRoot, 'artifacts'),
    });
    const activity = new MockActivityEnvironment();
    const model = (await activity.run(activities.resolveScoringModel, {
      model: MODEL,
      ref: 'champion' as const,
      spine: { path: fixture.spinePath },
    })) as ScoringModel;
    const features = await env.store.getTrainingSet(first.trainingSetId);
    const part = (await activity.run(activities.scoreBatchPart, {
      model: MODEL,
      version: model.version,
      trainingSet: {
        id: features.id,
        path: features.path,
        spineSha256: features.spine.sha256,
        featureColumns: features.features.map((f) => f.column),
      },
      spine: model.spine,
      requestFields: model.requestFields,
      from: 333,
      to: 666,
      part: 1,
      parts: 3,
      dir: model.dir,
      log: true,
    })) as { path: string; rows: number; inserted: number };
    assert.deepEqual({ rows: part.rows, inserted: part.inserted }, { rows: 333, inserted: 0 });
    assert.deepEqual(readScores(part.path).ids, before.ids!.slice(333, 666));
    assert.equal((await logged('batch')).length, FLIGHTS);

    // After a materialization (the features' training set is another one; this chunk past the sample
    // holds no rows, so the features stay): the same ids, nothing logged twice.
    await env.materialize({
      view: 'airport_departures',
      startMs: AS_OF + 7 * 86_400_000,
      endMs: AS_OF + 14 * 86_400_000,
    });
    const later = await score({ out: path.join(env.dataRoot, 'later.arrow'), log: true });
    assert.notEqual(later.result.trainingSetId, first.trainingSetId);
    assert.deepEqual(readScores(path.join(env.dataRoot, 'later.arrow')).ids, before.ids);
    assert.equal((await logged('batch')).length, FLIGHTS);

    // Without --log: the same scores, no ids, nothing logged.
    const unlogged = path.join(env.dataRoot, 'unlogged.arrow');
    const quiet = await score({ out: unlogged, ref: 1 });
    assert.equal(quiet.result.logged, false);
    const plain = readScores(unlogged);
    assert.deepEqual(plain.score, before.score);
    assert.equal(plain.columns.includes('prediction_id'), false);
    assert.equal((await logged('batch')).length, FLIGHTS);
  });

  test('bin/kaizen score: a spine shaped like the training spine, relative paths, the champion', async () => {
    const { env } = fixture;
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'kaizen-score-'));
    try {
      copyFileSync(fixture.spinePath, path.join(elsewhere, 'march.arrow'));
      // Asynchronously: the workflow it starts runs on this process's worker.
      const child = spawn(KAIZEN, ['score', MODEL, '--spine', 'march.arrow', '--out', 's.arrow'], {
        cwd: elsewhere,
        env: {
          ...process.env,
          DATABASE_URL: env.databaseUrl,
          KAIZEN_DATA_ROOT: env.dataRoot,
          KAIZEN_HOME: path.join(elsewhere, '.kaizen'),
          KAIZEN_TASK_QUEUE: env.worker.taskQueue,
        },
      });
      const cli = { status: null as number | null, stdout: '', stderr: '' };
      child.stdout.on('data', (d) => (cli.stdout += d));
      child.stderr.on('data', (d) => (cli.stderr += d));
      cli.status = await new Promise((resolve) => child.once('exit', resolve));
      assert.equal(cli.status, 0, cli.stdout + cli.stderr);
      const out = path.join(elsewhere, 's.arrow');
      assert.match(cli.stdout, new RegExp(`^${MODEL} v1: 1,000 rows scored → ${out}$`, 'm'));
      assert.match(cli.stdout, /^workflow: score:batch_scored:[0-9a-f]{16}$/m);
      assert.deepEqual(readScores(out).score, readScores(first.out).score);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  test('an unknown model, a missing alias or a spine without a mapped column fails at once, saying why', async () => {
    const { env } = fixture;
    const out = path.join(env.dataRoot, 'never.arrow');
    const noDestination = path.join(env.dataRoot, 'no-destination.arrow');
    const spine = tableFromIPC(readFileSync(fixture.spinePath));
    writeFileSync(noDestination, tableToIPC(spine.select(['asof', 'departure', 'origin']), 'file'));
    const started = Date.now();
    await assertWorkflowFails(score({ model: 'no_such_model', out }), /unknown model "no_such_model"/);
    await assertWorkflowFails(score({ ref: 'challenger', out }), /model "batch_scored" has no challenger/);
    await assertWorkflowFails(score({ ref: 7, out }), /unknown model version batch_scored@v7/);
    await assertWorkflowFails(
      score({ spine: { path: noDestination }, out }),
      /column "destination" not found in .*no-destination\.arrow/,
    );
    // Non-retryable: no backoff between attempts (the first retry alone would wait 1 to 2 seconds).
    assert.ok(Date.now() - started < 10_000, `failed after ${Date.now() - started} ms`);
  });
});
