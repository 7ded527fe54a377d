/**
 * Continuous training on real Postgres and Temporal with a flights sample whose labels change
 * regime: January's meaning of "late", then three weeks where it is inverted (concept drift), then
 * January's again (a recurring concept). The registered pipeline trains as of a time from its label
 * source; a monitor alert on the returning regime re-promotes the version that knew it, without
 * training; a data-drift alert retrains (lineage recorded), a second one within the cooldown does not;
 * schedules retrain and are paused, triggered and deleted.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Bool, Float64, Table, tableToIPC, TimestampMillisecond, Utf8, vectorFromArray } from 'apache-arrow';
import { and, eq, sql } from 'drizzle-orm';
import { formatModelDetails } from '../cli/commands/models.js';
import { WORKFLOW_IDS } from '../constants.js';
import { monitorAlerts, predictions, retrainings } from '../db/schema.js';
import { airport, departureTime, flightsDefinitions, route } from '../examples/flights/features.js';
import { flightFeatureRefs } from '../examples/flights/training-set.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import { describeModel } from '../models/catalog.js';
import { aliasHistory, getModelVersion } from '../models/registry.js';
import { defineLabelSource } from '../monitoring/labels/label-source.js';
import { defineMonitorPolicy } from '../monitoring/policy.js';
import { applyMonitoringDefinitions } from '../monitoring/registry.js';
import { runBatchScore } from '../runtime/batch-score-runner.js';
import { runMonitorWindow } from '../runtime/monitor-runner.js';
import { runReplay } from '../runtime/replay.js';
import { startRetrain } from '../runtime/retrain-runner.js';
import { controlSchedule, listSchedules, upsertTrainSchedule } from '../runtime/schedules.js';
import { resultOf } from '../runtime/workflow-runs.js';
import { DEFAULT_RETRAINING, defineTrainingPipeline } from '../training/pipeline.js';
import { applyTrainingPipelines } from '../training/registry.js';
import { approveSignal, pipelineStageQuery, type AlertResponseResult } from '../workflows/index.js';
import {
  SAMPLE_FLIGHT_VIEWS,
  writeFlightsSample,
  writeSampleSpine,
  type FlightsSample,
} from './support/flights-sample.js';
import { startIntegration, type Integration } from './support/integration.js';

const MODEL = 'ct_delays';
const DAY = 86_400_000;
const JAN_1 = Date.UTC(2001, 0, 1);
/** January's regime until here, then "late" means on time, then January's again. */
const A_END = Date.UTC(2001, 0, 21);
const B_END = Date.UTC(2001, 1, 11);
const SAMPLE_END = Date.UTC(2001, 2, 1);
/** Two days after the returning regime's first week: every flight of it landed. */
const SETTLED = B_END + 9 * DAY;

const labels = defineLabelSource({
  name: 'ct_late',
  entities: [airport, route],
  entityColumns: { airport: 'origin', route: ['origin', 'destination'] },
  request: { departure: { column: 'date', type: 'timestamp' } },
  source: { kind: 'arrow', path: 'labels.arrow', timestampField: 'date' },
  label: { column: 'late' },
  known: { after: '2h', plusMinutesFrom: 'delay' },
  horizon: '2d',
});
const pipeline = defineTrainingPipeline({
  model: MODEL,
  labels: 'ct_late',
  features: flightFeatureRefs(),
  split: { train: '14d', validation: '3d', test: '3d' },
  trainer: { kind: 'builtin', params: { kind: 'logistic', maxEpochs: 4 } },
  gates: { maxAucDrop: 0.01 },
  retraining: { cooldown: '3d' },
});
/** How a sample spine (writeSampleSpine) keys the flights. */
const SAMPLE_SPINE_MAPPING = {
  entities: [
    { entity: 'airport', columns: ['origin'] },
    { entity: 'route', columns: ['origin', 'destination'] },
  ],
  tsColumn: 'departure',
  request: { departure: 'departure' },
};
const policy = defineMonitorPolicy({ model: MODEL, labels: 'ct_late', window: '7d', minLabelled: 200 });

describe('continuous training (Postgres + Temporal, flights sample with a recurring concept)', () => {
  let env: Integration;
  let sample: FlightsSample;
  const deps = () => ({ temporal: env.worker.client, taskQueue: env.worker.taskQueue });
  const retrain = async (asOfMs: number) =>
    resultOf(await startRetrain(deps(), { model: MODEL, asOfMs, trigger: 'manual' }));
  const champion = async () => (await getModelVersion(env.database.db, MODEL, 'champion')).version;

  /** Scores and logs the sample's flights departing in [startMs, endMs) with the champion. */
  async function serve(startMs: number, endMs: number) {
    const rows = sample.date.flatMap((t, i) => (t >= startMs && t < endMs ? [i] : []));
    const file = path.join(env.dataRoot, `spine-${startMs}.arrow`);
    writeSampleSpine(sample, file, rows);
    await runBatchScore(deps(), {
      model: MODEL,
      spine: { path: file, ...SAMPLE_SPINE_MAPPING },
      out: path.join(env.dataRoot, `scores-${startMs}.arrow`),
      log: true,
    });
  }

  /** Waits for the answer a monitor run started to its alerts. */
  async function response(summary: { response?: { workflowId: string } | { busy: string } }) {
    assert.ok(
      summary.response && 'workflowId' in summary.response,
      `no response started: ${JSON.stringify(summary.response)}`,
    );
    return (await env.worker.client.workflow
      .getHandle(summary.response.workflowId)
      .result()) as AlertResponseResult;
  }

  before(async () => {
    env = await startIntegration();
    sample = writeFlightsSample(env.dataRoot, {
      origins: ['SFO', 'OAK', 'SJC', 'SAN'],
      startMs: JAN_1,
      endMs: SAMPLE_END,
    });
    // The labels: late (> 15 min) in January's regime, inverted in between.
    const late = sample.date.map((t, i) => sample.delay[i] > 15 !== (t >= A_END && t < B_END));
    writeFileSync(
      path.join(env.dataRoot, 'labels.arrow'),
      tableToIPC(
        new Table({
          date: vectorFromArray(sample.date, new TimestampMillisecond()),
          origin: vectorFromArray(sample.origin, new Utf8()),
          destination: vectorFromArray(sample.destination, new Utf8()),
          delay: vectorFromArray(sample.delay, new Float64()),
          late: vectorFromArray(late, new Bool()),
        }),
        'file',
      ),
    );
    await applyDefinitions(env.database.db, {
      entities: [airport, route],
      views: SAMPLE_FLIGHT_VIEWS,
      onDemandViews: [departureTime],
      module: flightsDefinitions().module,
    });
    await applyMonitoringDefinitions(env.database.db, { labelSources: [labels], monitorPolicies: [policy] });
    for (const view of SAMPLE_FLIGHT_VIEWS) await env.materialize({ view: view.name });
  });

  after(() => env?.close());

  test('pipelines as code: registered by apply, unchanged is a no-op, a change is a new version', async () => {
    const [first] = await applyTrainingPipelines(env.database.db, [pipeline]);
    assert.deepEqual([first.status, first.version], ['created', 1]);
    assert.equal((await applyTrainingPipelines(env.database.db, [pipeline]))[0].status, 'unchanged');
    const changed = await applyTrainingPipelines(env.database.db, [
      { ...pipeline, split: { ...pipeline.split, test: '4d' } },
    ]);
    assert.deepEqual([changed[0].status, changed[0].version], ['new-version', 2]);
    assert.match(changed[0].diff.join('\n'), /split\.test: "3d" -> "4d"/);
    await applyTrainingPipelines(env.database.db, [pipeline]);
    await assert.rejects(
      applyTrainingPipelines(env.database.db, [{ ...pipeline, labels: 'nope' }]),
      /unknown label source "nope"/,
    );
  });

  test('the pipeline trains as of a time from its label source; the same time again attaches, it never runs twice', async () => {
    const first = await retrain(A_END);
    assert.equal(first.pipeline.status, 'promoted', first.pipeline.reasons.join('; '));
    assert.equal(first.pipelineVersion, 3);
    // The spine: January's flights of the split's span whose label was known by A_END.
    const known = sample.date.filter(
      (t, i) =>
        t >= A_END - 20 * DAY &&
        t < A_END &&
        t + 2 * 3_600_000 + Math.max(0, sample.delay[i]) * 60_000 <= A_END,
    ).length;
    assert.equal(first.spineRows, known);
    // Done, the same request attaches to that run: it is not trained again.
    const firstRun = (
      await env.worker.client.workflow.getHandle(WORKFLOW_IDS.retrain(MODEL, A_END)).describe()
    ).runId;
    const again = await startRetrain(deps(), { model: MODEL, asOfMs: A_END, trigger: 'manual' });
    assert.equal((await again.describe()).runId, firstRun);
    assert.equal((await resultOf(again)).pipeline.version, first.pipeline.version);
    const runs = await env.database.db.select().from(retrainings).where(eq(retrainings.modelName, MODEL));
    assert.deepEqual(
      runs.map((r) => [r.trigger, r.outcome, r.version]),
      [['manual', 'promoted', first.pipeline.version]],
    );
    const lineage = (await getModelVersion(env.database.db, MODEL, first.pipeline.version)).lineage as Record<
      string,
      unknown
    >;
    assert.deepEqual(
      [lineage.pipeline, lineage.trigger, lineage.asOf],
      [`${MODEL}@v3`, 'manual', new Date(A_END).toISOString()],
    );
    // After the regime flips, a retraining beats January's model on the inverted weeks.
    const second = await retrain(B_END);
    assert.equal(second.pipeline.status, 'promoted', second.pipeline.reasons.join('; '));
    assert.equal(await champion(), second.pipeline.version);
  });

  test('when the old world returns, the champion decays and the version that knew it is re-promoted, without training', async () => {
    assert.equal(await champion(), 2, 'the inverted regime’s model is champion');
    await serve(B_END, B_END + 7 * DAY);
    const started = Date.now();
    const { summary } = await runMonitorWindow(deps(), {
      model: MODEL,
      startMs: B_END,
      endMs: B_END + 7 * DAY,
      asOfMs: SETTLED,
    });
    assert.ok(
      summary.alerts.some((a) => a.kind === 'performance' && a.subject === ''),
      summary.alerts.map((a) => a.message).join(' | '),
    );
    const answer = await response(summary);
    assert.equal(answer.repromotion?.promoted, 1, JSON.stringify(answer.reasons));
    assert.equal(answer.retraining, null, 'no retraining once an earlier version answered');
    assert.equal(await champion(), 1);
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 60, `decision and promotion in ${seconds} s`);
    const [audit] = await aliasHistory(env.database.db, MODEL).limit(1);
    assert.equal(audit.toVersion, 1);
    assert.match(
      audit.reason,
      /re-promoted v1 without retraining: the champion decays; on window 2001-02-11T00:00:00\.000Z \.\. 2001-02-18T00:00:00\.000Z \(\d+ labelled events\) AUC 0\.\d{3} vs champion v2 0\.\d{3}/,
    );
    // The attempt is a run of the model's: it counts toward the cooldown of the next alerts.
    const attempts = await env.database.db
      .select()
      .from(retrainings)
      .where(and(eq(retrainings.modelName, MODEL), sql`${retrainings.workflowId} LIKE 'repromote:%'`));
    assert.deepEqual(
      attempts.map((r) => [r.trigger, r.outcome, r.version, r.asOf.getTime()]),
      [['alert', 'repromoted', 1, SETTLED]],
    );
    const consumed = await env.database.db
      .select()
      .from(monitorAlerts)
      .where(and(eq(monitorAlerts.modelName, MODEL), sql`${monitorAlerts.consumedBy} IS NOT NULL`));
    assert.ok(consumed.length >= 1);
  });

  test('a data-drift alert retrains with the alert in the lineage; another within the cooldown does not', async () => {
    const db = env.database.db;
    const v1 = await getModelVersion(db, MODEL, 1);
    const latitude = (v1.features as string[]).indexOf('airport_info@v1:latitude');
    // A week like the last one, every origin 12 degrees further north (unlabelled: a copy).
    const moved = async (days: number) =>
      db.execute(sql`
        INSERT INTO kaizen.predictions (id, model_name, version, source, entities, event_ts, score, decision, features, inputs, predicted_at)
        SELECT id || ${`-${days}`}, model_name, 1, source, entities, event_ts + ${`${days} days`}::interval, score, decision, features,
          inputs[1:${latitude}] || ARRAY[inputs[${latitude + 1}] + 12] || inputs[${latitude + 2}:], predicted_at
        FROM kaizen.predictions WHERE model_name = ${MODEL} AND event_ts >= ${new Date(B_END)} AND event_ts < ${new Date(B_END + 7 * DAY)}`);
    await moved(7);
    const week = { startMs: B_END + 7 * DAY, endMs: B_END + 14 * DAY };
    // As of the week's end: the retraining it starts trains on the weeks before.
    const first = await runMonitorWindow(deps(), { model: MODEL, ...week, asOfMs: week.endMs });
    const drift = first.summary.alerts.filter((a) => a.kind === 'data_drift');
    assert.ok(drift.some((a) => a.subject === 'airport_info__latitude'));
    const answer = await response(first.summary);
    assert.equal(answer.repromotion?.promoted ?? null, null, 'no earlier version beats the champion here');
    assert.ok(answer.retraining, JSON.stringify(answer.reasons));
    assert.equal(answer.retraining.trigger, 'alert');
    const trained = await describeModel(db, MODEL);
    const version = trained.versions.find((v) => v.version === answer.retraining!.pipeline.version)!;
    assert.equal(version.lineage?.trigger, 'alert');
    assert.deepEqual(
      version.lineage!.alerts.map((a) => a.id).sort(),
      // The alerts of kinds the pipeline retrains on (not the data-quality one the same shift raised).
      first.summary.alerts
        .filter((a) => a.consumedBy === null && (DEFAULT_RETRAINING.on as readonly string[]).includes(a.kind))
        .map((a) => a.id)
        .sort(),
    );
    assert.match(
      formatModelDetails(trained),
      new RegExp(
        `v${version.version}: alert run of pipeline ${MODEL}@v3 as of 2001-02-25T00:00:00\\.000Z[\\s\\S]*alert #\\d+ data_drift airport_info__latitude`,
      ),
    );
    // A day later, drift again: within the 3-day cooldown of that retraining, nothing is retrained.
    await moved(14);
    const next = await runMonitorWindow(deps(), {
      model: MODEL,
      startMs: B_END + 14 * DAY,
      endMs: B_END + 21 * DAY,
      asOfMs: week.endMs + DAY,
    });
    const quiet = await response(next.summary);
    assert.equal(quiet.retraining, null);
    assert.ok(
      quiet.reasons.some((r) => /cooldown/.test(r)),
      quiet.reasons.join('; '),
    );
  });

  test('a schedule retrains as of its runs; pause, unpause, trigger and delete from the CLI functions', async () => {
    const client = env.worker.client;
    const { scheduleId } = await upsertTrainSchedule(client, {
      model: MODEL,
      every: '7d',
      taskQueue: env.worker.taskQueue,
    });
    try {
      await controlSchedule(client, scheduleId, 'pause', 'test');
      assert.equal((await client.schedule.getHandle(scheduleId).describe()).state.paused, true);
      // The list comes from Temporal's visibility store, a moment behind.
      let listed = false;
      for (let i = 0; i < 50 && !listed; i++) {
        listed = (await listSchedules(client)).some(
          (s) => s.scheduleId === scheduleId && s.workflowType === 'scheduledTrainWorkflow',
        );
        if (!listed) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.ok(listed, 'kaizen schedule list shows it');
      await controlSchedule(client, scheduleId, 'unpause', 'test');
      await controlSchedule(client, scheduleId, 'trigger', 'test');
      let run: { workflowId: string; firstExecutionRunId: string } | undefined;
      for (let i = 0; i < 100 && !run; i++) {
        run = (await client.schedule.getHandle(scheduleId).describe()).info.recentActions[0]?.action.workflow;
        if (!run) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(run, 'the trigger started a run');
      // As of now there are no labelled flights in the span: the run fails at once, saying so.
      await assert.rejects(
        client.workflow.getHandle(run.workflowId, run.firstExecutionRunId).result(),
        (error: Error) => {
          let cause: Error = error;
          while (cause.cause instanceof Error) cause = cause.cause;
          assert.match(cause.message, /no labelled events of ct_late between/);
          return true;
        },
      );
    } finally {
      await controlSchedule(client, scheduleId, 'delete', 'test');
    }
    await assert.rejects(
      controlSchedule(client, scheduleId, 'pause', 'test'),
      /no schedule "train:ct_delays"/,
    );
  });
  test('a replay of three days: scored and logged, monitored as scheduled, an alert-triggered and a scheduled retraining', async () => {
    const model = 'ct_replay';
    const db = env.database.db;
    await applyTrainingPipelines(db, [{ ...pipeline, model, retraining: { cooldown: '1d' } }]);
    await applyMonitoringDefinitions(db, { labelSources: [], monitorPolicies: [{ ...policy, model }] });
    // The champion knew January's regime; the replayed days are the inverted one's.
    const champion = await resultOf(await startRetrain(deps(), { model, asOfMs: A_END, trigger: 'manual' }));
    assert.equal(champion.pipeline.status, 'promoted');
    const days = await runReplay(deps(), {
      model,
      startMs: A_END,
      endMs: A_END + 3 * DAY,
      daySpine: async (dayStartMs) => {
        const rows = sample.date.flatMap((t, i) => (t >= dayStartMs && t < dayStartMs + DAY ? [i] : []));
        const file = path.join(env.dataRoot, `replay-${dayStartMs}.arrow`);
        writeSampleSpine(sample, file, rows);
        return { path: file, ...SAMPLE_SPINE_MAPPING };
      },
      scoresDir: env.dataRoot,
      windowMs: 7 * DAY,
      retrainEveryMs: 2 * DAY,
    });
    assert.equal(days.length, 3);
    const logged = await db
      .select({ n: sql<number>`count(*)::int` })
      .from(predictions)
      .where(eq(predictions.modelName, model));
    assert.equal(
      logged[0].n,
      days.reduce((n, d) => n + d.scored, 0),
      'every scored flight logged once',
    );
    for (const d of days) {
      assert.ok(d.scored > 0);
      // The monitor ran as of the day's end, on the window ending then (and the one that has settled).
      assert.equal(d.monitor.at(-1)!.endMs, d.dayStartMs + DAY);
      assert.equal(d.monitor.at(-1)!.asOfMs, d.dayStartMs + DAY);
    }
    // Day 1: the champion decays on the inverted labels; no earlier version, so a retraining as of that day.
    const answered = days[0].responses[0];
    assert.ok(answered?.retraining, JSON.stringify(days[0].responses));
    assert.deepEqual([answered.retraining.trigger, answered.retraining.asOfMs], ['alert', A_END + DAY]);
    // Day 2: the scheduled run as of its time, under way before the monitor's alerts are answered: the
    // answer finds it in flight, done and within its cooldown, or (done and promoted) the alerts about an older version.
    const scheduled = days[1].scheduledRetraining;
    assert.ok(scheduled);
    assert.deepEqual([scheduled.trigger, scheduled.asOfMs], ['schedule', A_END + 2 * DAY]);
    assert.ok(days[1].responses.length > 0, 'the day alerted');
    for (const r of days[1].responses) {
      assert.equal(r.retraining, null);
      assert.match(
        r.reasons.join('; '),
        /retrain:ct_replay:\S+ is in flight|cooldown: retrain:ct_replay:.* \(\w+\) was as of|not the champion/,
      );
    }
    const runs = await db
      .select()
      .from(retrainings)
      .where(eq(retrainings.modelName, model))
      .orderBy(retrainings.startedAt);
    const trained = runs.filter((r) => !r.workflowId.startsWith('repromote:'));
    assert.deepEqual(
      trained.slice(0, 3).map((r) => [r.trigger, r.asOf.getTime()]),
      [
        ['manual', A_END],
        ['alert', A_END + DAY],
        ['schedule', A_END + 2 * DAY],
      ],
    );
    assert.equal(days[2].version, (await getModelVersion(db, model, 'champion')).version);
  });
  test('one run of a model at a time: a retraining while another awaits approval fails at once, saying so', async () => {
    const model = 'ct_inflight';
    const db = env.database.db;
    await applyTrainingPipelines(db, [{ ...pipeline, model, approval: '1 hour' }]);
    const waiting = await startRetrain(deps(), { model, asOfMs: A_END, trigger: 'manual' });
    const child = env.worker.client.workflow.getHandle(`${WORKFLOW_IDS.retrain(model, A_END)}:pipeline`);
    for (let i = 0; i < 300; i++) {
      const stage = await child.query(pipelineStageQuery).catch((error: unknown) => String(error));
      if (stage === 'awaiting approval') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(await child.query(pipelineStageQuery), 'awaiting approval');
    await assert.rejects(
      resultOf(await startRetrain(deps(), { model, asOfMs: A_END + DAY, trigger: 'manual' })),
      new RegExp(
        `retrain:${model}:2001-01-21T00:00:00\\.000Z \\(as of 2001-01-21T00:00:00\\.000Z\\) is in flight: one run of ${model} at a time`,
      ),
    );
    await child.signal(approveSignal, { approved: true, by: 'test' });
    assert.equal((await resultOf(waiting)).pipeline.status, 'promoted');
    const runs = await db
      .select()
      .from(retrainings)
      .where(eq(retrainings.modelName, model))
      .orderBy(retrainings.asOf);
    assert.deepEqual(
      runs.map((r) => [r.asOf.getTime(), r.outcome]),
      [[A_END, 'promoted']],
      'the refused run left no record of its own',
    );
    // Failed, the same request runs again (the pipeline now without the approval wait): nothing else is
    // in flight, so it trains, and its record is its own.
    await applyTrainingPipelines(db, [{ ...pipeline, model }]);
    const outcome = (
      await resultOf(await startRetrain(deps(), { model, asOfMs: A_END + DAY, trigger: 'manual' }))
    ).pipeline.status;
    assert.ok(outcome === 'promoted' || outcome === 'rejected', outcome);
    const [rerun] = await db
      .select()
      .from(retrainings)
      .where(eq(retrainings.workflowId, WORKFLOW_IDS.retrain(model, A_END + DAY)));
    assert.equal(rerun.outcome, outcome);
  });
});
