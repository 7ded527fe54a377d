/**
 * The monitor end to end on real Postgres and Temporal with a flights sample: a model trained and
 * profiled by the training pipeline, a week of its batch predictions logged, labels ingested from a
 * label source and joined to them, daily monitor windows (results, alerts, re-runs), labels known as
 * of a time, keyed and by-id feedback, bad input, the schedule, the `models.monitoring` procedure
 * and the Prometheus gauges.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import { and, eq, sql } from 'drizzle-orm';
import { Registry } from 'prom-client';
import { labelChunks, monitorAlerts, monitorResults, predictionFeedback, predictions } from '../db/schema.js';
import { airport, departureTime, flightsDefinitions, route } from '../examples/flights/features.js';
import { flightDelayed, flightDelaysPolicy } from '../examples/flights/continuous-training.js';
import { flightFeatureRefs } from '../examples/flights/training-set.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import { getModelVersion, registerModelVersion } from '../models/registry.js';
import { recordFeedback } from '../monitoring/labels/feedback.js';
import type { LabelSourceDefinition } from '../monitoring/labels/label-source.js';
import { resolveLabels } from '../monitoring/labels/resolve.js';
import { getDefinition } from '../models/definitions.js';
import { realizedPerformance } from '../monitoring/performance.js';
import type { ModelProfile } from '../monitoring/profile.js';
import { applyMonitoringDefinitions } from '../monitoring/registry.js';
import type { MonitorSummary } from '../monitoring/monitor.js';
import { windowReports } from '../monitoring/report.js';
import { readAlerts, readResults } from '../monitoring/results.js';
import { formatWindowReport } from '../cli/commands/monitor.js';
import { runBatchScore } from '../runtime/batch-score-runner.js';
import { runMonitorWindow } from '../runtime/monitor-runner.js';
import { upsertMonitorSchedule } from '../runtime/schedules.js';
import { runTrainingPipeline } from '../runtime/training-pipeline-runner.js';
import type { ServingDeps } from '../serving/context.js';
import { createServingMetrics } from '../serving/metrics.js';
import { registerMonitorGauges } from '../serving/monitor-metrics.js';
import { createCaller } from '../serving/router.js';
import {
  FLIGHTS_SAMPLE_SOURCE,
  SAMPLE_FLIGHT_VIEWS,
  writeFlightsSample,
  writeSampleSpine,
  type FlightsSample,
} from './support/flights-sample.js';
import { startIntegration, type Integration } from './support/integration.js';
import { assertWorkflowFails } from './support/temporal.js';

const MODEL = 'flight_delays';
const DAY = 86_400_000;
const JAN_1 = Date.UTC(2001, 0, 1);
const FEB_1 = Date.UTC(2001, 1, 1);
const SCORED_DAYS = 4;
/** Long after every flight landed: every label is known. */
const LATER = Date.UTC(2001, 2, 1);

describe('model monitoring end to end (Postgres + Temporal, flights sample)', () => {
  let env: Integration;
  let sample: FlightsSample;
  /** Sample rows scored and logged, in scoring order. */
  let scored: number[];
  let scores: Float64Array;
  const deps = () => ({ temporal: env.worker.client, taskQueue: env.worker.taskQueue });
  const day = (d: number) => ({ startMs: FEB_1 + d * DAY, endMs: FEB_1 + (d + 1) * DAY });

  /** A spine of the sample's flights in [startMs, endMs) (writeSampleSpine); returns their rows. */
  function writeSpine(file: string, startMs: number, endMs: number): number[] {
    const rows = sample.date.flatMap((t, i) => (t >= startMs && t < endMs ? [i] : []));
    writeSampleSpine(sample, path.join(env.dataRoot, file), rows);
    return rows;
  }

  before(async () => {
    env = await startIntegration();
    sample = writeFlightsSample(env.dataRoot, {
      origins: ['SFO', 'OAK', 'SJC', 'SAN'],
      startMs: JAN_1,
      endMs: FEB_1 + 8 * DAY,
    });
    await applyDefinitions(env.database.db, {
      entities: [airport, route],
      views: SAMPLE_FLIGHT_VIEWS,
      onDemandViews: [departureTime],
      module: flightsDefinitions().module,
    });
    await applyMonitoringDefinitions(env.database.db, {
      labelSources: [{ ...flightDelayed, source: FLIGHTS_SAMPLE_SOURCE }],
      monitorPolicies: [flightDelaysPolicy],
    });
    for (const view of SAMPLE_FLIGHT_VIEWS) await env.materialize({ view: view.name });

    writeSpine('train.arrow', JAN_1, FEB_1);
    const trained = await runTrainingPipeline(deps(), {
      model: MODEL,
      trainingSet: {
        spine: {
          path: path.join(env.dataRoot, 'train.arrow'),
          entities: [
            { entity: 'airport', columns: ['origin'] },
            { entity: 'route', columns: ['origin', 'destination'] },
          ],
          tsColumn: 'departure',
          labelColumn: 'delayed',
          request: { departure: 'departure' },
        },
        features: flightFeatureRefs(),
        split: { trainEndMs: Date.UTC(2001, 0, 20), validEndMs: Date.UTC(2001, 0, 27) },
        out: path.join(env.dataRoot, 'train-set.arrow'),
      },
      label: 'delayed',
      trainer: { kind: 'builtin', params: { kind: 'logistic', maxEpochs: 4 } },
    });
    assert.equal(trained.result.status, 'promoted', trained.result.reasons.join('; '));

    // A few days of February scored in batch and logged: the model's live traffic.
    scored = writeSpine('feb.arrow', FEB_1, FEB_1 + SCORED_DAYS * DAY);
    const run = await runBatchScore(deps(), {
      model: MODEL,
      spine: {
        path: path.join(env.dataRoot, 'feb.arrow'),
        entities: [
          { entity: 'airport', columns: ['origin'] },
          { entity: 'route', columns: ['origin', 'destination'] },
        ],
        tsColumn: 'departure',
        request: { departure: 'departure' },
      },
      out: path.join(env.dataRoot, 'feb-scores.arrow'),
      log: true,
    });
    assert.equal(run.result.rows, scored.length);
    scores = Float64Array.from(
      tableFromIPC(readFileSync(run.result.out)).getChild('score')!.toArray() as Float64Array,
    );
  });

  after(() => env?.close());

  test('the profile of the trained version is the monitor reference: CDFs, calibration, slice references', async () => {
    const version = await getModelVersion(env.database.db, MODEL, 'champion');
    const profile = version.profile as ModelProfile;
    assert.equal(profile.format, 2);
    const input = profile.features.airport_departures__departures_24h;
    assert.ok(input.kind === 'numeric' && input.cdf && input.cdf.x.length > 10);
    assert.ok(profile.score.calibration!.upper.length > 1);
    assert.ok(profile.score.reference!.auc > 0.5);
    assert.ok(Object.keys(profile.score.slices!).some((s) => s.startsWith('time_of_day=')));
  });

  const keyOf = (r: number) => `${sample.origin[r]}-${sample.destination[r]}@${sample.date[r]}`;
  /** The sample row whose label a flight's key gets: the last one listed. */
  const flightOf = new Map<string, number>();

  test('daily windows: labels ingested and joined; the realized AUC is the AUC of the logged scores and the true labels', async () => {
    for (let r = 0; r < sample.length; r++) flightOf.set(keyOf(r), r);
    for (let d = 0; d < SCORED_DAYS; d++) {
      const { summary, workflowId } = await runMonitorWindow(deps(), {
        model: MODEL,
        ...day(d),
        asOfMs: LATER,
      });
      assert.equal(
        workflowId,
        `monitor:${MODEL}:${new Date(day(d).startMs).toISOString()}:${new Date(day(d).endMs).toISOString()}`,
      );
      const inWindow = scored.flatMap((r, k) =>
        sample.date[r] >= day(d).startMs && sample.date[r] < day(d).endMs ? [k] : [],
      );
      assert.equal(summary.rows, inWindow.length);
      const [v] = summary.versions;
      assert.equal(v.version, 1);
      assert.equal(v.labelled, inWindow.length, 'every flight landed by the as-of time');
      // The label each prediction got is its flight's (route and departure; of two flights on one
      // route in the same minute, the one listed last): the AUC matches the one computed here.
      const labels = Uint8Array.from(inWindow, (k) =>
        sample.delay[flightOf.get(keyOf(scored[k]))!] > 15 ? 1 : 0,
      );
      const expected = realizedPerformance(
        Float64Array.from(inWindow, (k) => scores[k]),
        labels,
        0.5,
      );
      assert.ok(Math.abs(v.auc! - expected.auc) < 1e-12, `day ${d}: ${v.auc} vs ${expected.auc}`);
      assert.ok(v.estimatedAuc! > 0.5 && v.estimatedAuc! < 1);
    }
    const chunks = await env.database.db.select().from(labelChunks);
    assert.ok(chunks.length >= 1 && chunks.every((c) => c.rows > 0));
    // The report the CLI prints, from the stored rows.
    const results = await readResults(env.database.db, MODEL, day(0));
    const [report] = windowReports(results, []);
    const text = formatWindowReport(MODEL, report);
    assert.match(text, /flight_delays@v1 · \d[\d,]* predictions, \d[\d,]* labelled \(100\.0%\)/);
    assert.match(text, /\(all\)\s+\d+\s+\d+\s+0\.\d{3}/);
    assert.match(text, /airport_departures__departures_1h\s+\d/);
    // Slices in bucket order, the whole window first.
    assert.match(
      text,
      /\(all\)[\s\S]*time_of_day=<6 [\s\S]*time_of_day=6\.\.12 [\s\S]*time_of_day=12\.\.18 [\s\S]*time_of_day=>=18 /,
    );
  });

  test('as of an earlier time, only labels of flights that had landed count', async () => {
    const asOfMs = day(0).startMs + 12 * 3_600_000;
    const { summary } = await runMonitorWindow(deps(), { model: MODEL, ...day(0), asOfMs });
    const known = scored.filter(
      (r) =>
        sample.date[r] < day(0).endMs &&
        sample.date[r] >= day(0).startMs &&
        sample.date[r] + 2 * 3_600_000 + Math.max(0, sample.delay[r]) * 60_000 <= asOfMs,
    ).length;
    assert.equal(summary.versions[0].labelled, known);
    assert.ok(known > 0 && known < summary.rows);
    // Restore the window as of LATER for the tests after this one.
    await runMonitorWindow(deps(), { model: MODEL, ...day(0), asOfMs: LATER });
  });

  test('a re-run replaces the window: results not doubled, alerts recorded once', async () => {
    const count = async () =>
      (
        await env.database.db
          .select({ n: sql<number>`count(*)::int` })
          .from(monitorResults)
          .where(eq(monitorResults.modelName, MODEL))
      )[0].n;
    const before = await count();
    await runMonitorWindow(deps(), { model: MODEL, ...day(1), asOfMs: LATER });
    assert.equal(await count(), before);
    // Labels already joined since the source last changed are not joined again (no margin for labels
    // fed back meanwhile: none are).
    const source = await getDefinition<LabelSourceDefinition>(
      env.database.db,
      'labelSource',
      'flight_delayed',
    );
    const again = await resolveLabels(env.database.pool, source, MODEL, day(1), { changeMarginMs: 0 });
    assert.deepEqual(again, { predictions: 0, keyed: 0, matched: 0, written: 0, removed: 0 });
  });

  test('drifted inputs raise durable alerts with figures; the CLI table shows them', async () => {
    const version = await getModelVersion(env.database.db, MODEL, 1);
    const latitude = (version.features as string[]).indexOf('airport_info@v1:latitude');
    assert.ok(latitude >= 0);
    // Day 6: day 1's traffic again, every origin 12 degrees further north (out of the reference range).
    await env.database.db.execute(sql`
      INSERT INTO kaizen.predictions (id, model_name, version, source, entities, event_ts, score, decision, features, inputs, predicted_at)
      SELECT id || '-moved', model_name, version, source, entities, event_ts + interval '5 days', score, decision, features,
        inputs[1:${latitude}] || ARRAY[inputs[${latitude + 1}] + 12] || inputs[${latitude + 2}:], predicted_at
      FROM kaizen.predictions WHERE model_name = ${MODEL} AND event_ts >= ${new Date(day(1).startMs)} AND event_ts < ${new Date(day(1).endMs)}`);
    const { summary } = await runMonitorWindow(deps(), { model: MODEL, ...day(6), asOfMs: LATER });
    const drifted = summary.alerts.find(
      (a) => a.kind === 'data_drift' && a.subject === 'airport_info__latitude',
    );
    assert.ok(drifted, summary.alerts.map((a) => a.message).join(' | '));
    assert.ok(
      summary.alerts.some((a) => a.kind === 'data_quality' && a.subject === 'airport_info__latitude'),
    );
    const stored = await env.database.db.select().from(monitorAlerts).where(eq(monitorAlerts.id, drifted.id));
    assert.equal(stored[0].windowStart.getTime(), day(6).startMs);
    assert.ok((stored[0].figures as { psi: number }).psi > 0.2);
    // A re-run finds the same alert, not a second one.
    const again = await runMonitorWindow(deps(), { model: MODEL, ...day(6), asOfMs: LATER });
    assert.deepEqual(again.summary.alerts.map((a) => a.id).sort(), summary.alerts.map((a) => a.id).sort());
    const report = windowReports(
      await readResults(env.database.db, MODEL, day(6)),
      await readAlerts(env.database.db, MODEL, { ...day(6), exact: true }),
    )[0];
    assert.match(
      formatWindowReport(MODEL, report),
      /alerts:\n(.*\n)*\s+#\d+ data_drift: data drift in airport_info__latitude/,
    );
  });

  test('models.monitoring returns the windows; /metrics carries the latest window as gauges', async () => {
    const metrics = createServingMetrics();
    const caller = createCaller({
      deps: { db: env.database.db, pool: env.database.pool, metrics } as unknown as ServingDeps,
      key: { id: 'k', name: 'ops', scopes: ['predict'] },
    });
    const answer = await caller.models.monitoring({
      model: MODEL,
      since: new Date(FEB_1).toISOString(),
      until: new Date(day(3).endMs).toISOString(),
    });
    assert.deepEqual(
      answer.windows.map((w) => w.startMs),
      [0, 1, 2, 3].map((d) => day(d).startMs),
    );
    assert.ok(answer.windows.every((w) => w.performance.length > 0 && w.drift.length === 13));
    const registry = new Registry();
    registerMonitorGauges(registry, env.database.db);
    const text = await registry.metrics();
    assert.match(
      text,
      new RegExp(
        `kaizen_monitor_value\\{model="${MODEL}",version="1",metric="estimated_auc",subject=""\\} 0\\.\\d+`,
      ),
    );
    assert.match(text, /kaizen_monitor_alerts\{model="flight_delays",kind="data_drift"\} [1-9]/);
    assert.match(text, /kaizen_monitor_window_end_seconds\{model="flight_delays"\} \d+/);
  });

  test('feedback: by id and by event, idempotent, conflicts kept; event labels join at the next run', async () => {
    const db = env.database.db;
    const [p] = await db
      .select()
      .from(predictions)
      .where(
        and(
          eq(predictions.modelName, MODEL),
          sql`${predictions.eventTs} >= ${new Date(day(2).startMs)}`,
          sql`${predictions.eventTs} < ${new Date(day(2).endMs)}`,
        ),
      )
      .limit(1);
    const entities = p.entities as { airport: string; route: [string, string]; departure: string };
    const [before] = await db
      .select()
      .from(predictionFeedback)
      .where(eq(predictionFeedback.predictionId, p.id));
    assert.equal(before.source, 'labels:flight_delayed');
    const flipped = (1 - before.label) as 0 | 1;
    // A label for the flight's event: recorded, then the same again is unchanged, a different one a conflict.
    const event = {
      source: 'flight_delayed',
      entities: { airport: entities.airport, route: entities.route, departure: entities.departure },
      eventTime: entities.departure,
      label: flipped,
    };
    assert.deepEqual((await recordFeedback(db, [event])).counts, { recorded: 1 });
    assert.deepEqual((await recordFeedback(db, [event])).counts, { unchanged: 1 });
    assert.deepEqual((await recordFeedback(db, [{ ...event, label: before.label as 0 | 1 }])).counts, {
      conflict: 1,
    });
    const bad = await recordFeedback(db, [
      { ...event, entities: { route: entities.route } },
      { ...event, source: 'nope' },
      { predictionId: '00000000-0000-4000-8000-000000000000', label: 1 },
    ]);
    assert.deepEqual(
      bad.outcomes.map((o) => o.outcome),
      ['invalid_event', 'invalid_event', 'unknown_prediction'],
    );
    assert.match(bad.outcomes[0].reason!, /route, departure/);
    // The fed-back event label is the latest one recorded for the flight: the next run joins it.
    await runMonitorWindow(deps(), { model: MODEL, ...day(2), asOfMs: LATER });
    const [after] = await db
      .select()
      .from(predictionFeedback)
      .where(eq(predictionFeedback.predictionId, p.id));
    assert.equal(after.label, flipped);
    // Feedback by id wins over joined labels, and stays through later runs.
    assert.deepEqual(
      (await recordFeedback(db, [{ predictionId: p.id, label: before.label as 0 | 1 }])).counts,
      { recorded: 1 },
    );
    await runMonitorWindow(deps(), { model: MODEL, ...day(2), asOfMs: LATER });
    const [kept] = await db
      .select()
      .from(predictionFeedback)
      .where(eq(predictionFeedback.predictionId, p.id));
    assert.deepEqual([kept.source, kept.label], ['feedback', before.label]);
  });

  test('bad input: an unknown model or a backwards window fails at once; no traffic and no profile are no verdict', async () => {
    await assertWorkflowFails(
      runMonitorWindow(deps(), { model: 'nope', ...day(0), asOfMs: LATER }),
      /unknown model "nope"/,
    );
    await assertWorkflowFails(
      runMonitorWindow(deps(), {
        model: MODEL,
        startMs: day(1).startMs,
        endMs: day(0).startMs,
        asOfMs: LATER,
      }),
      /invalid monitor window/,
    );
    const empty = await runMonitorWindow(deps(), {
      model: MODEL,
      startMs: Date.UTC(2001, 4, 1),
      endMs: Date.UTC(2001, 4, 2),
      asOfMs: LATER,
    });
    assert.equal(empty.summary.rows, 0);
    const [note] = windowReports(
      await readResults(env.database.db, MODEL, {
        startMs: Date.UTC(2001, 4, 1),
        endMs: Date.UTC(2001, 4, 2),
      }),
      [],
    );
    assert.match(note.note!, /no predictions in the window/);
    // A version without a profile (registered by hand) is monitored without verdicts.
    const v1 = await getModelVersion(env.database.db, MODEL, 1);
    const bare = await registerModelVersion(env.database.db, {
      name: 'unprofiled',
      artifactPath: v1.artifactPath,
      trainer: v1.trainer,
      params: {},
      trainingSetId: v1.trainingSetId,
      features: v1.features as string[],
      metrics: {},
    });
    await env.database.db.execute(sql`
      INSERT INTO kaizen.predictions (id, model_name, version, source, entities, event_ts, score, decision, features, inputs, predicted_at)
      SELECT id || '-bare', 'unprofiled', ${bare.version}, source, entities, event_ts, score, decision, features, inputs, predicted_at
      FROM kaizen.predictions WHERE model_name = ${MODEL} AND event_ts >= ${new Date(day(0).startMs)} AND event_ts < ${new Date(day(0).endMs)}`);
    const unprofiled = await runMonitorWindow(deps(), { model: 'unprofiled', ...day(0), asOfMs: LATER });
    assert.equal(unprofiled.summary.versions[0].profiled, false);
    assert.deepEqual(unprofiled.summary.alerts, []);
    const [report] = windowReports(await readResults(env.database.db, 'unprofiled', day(0)), []);
    assert.match(report.note!, /no reference profile/);
  });

  test('a Temporal Schedule monitors the last whole window before its scheduled time', async () => {
    const { scheduleId } = await upsertMonitorSchedule(env.worker.client, {
      model: MODEL,
      every: '1h',
      window: '1h',
      taskQueue: env.worker.taskQueue,
    });
    const schedule = env.worker.client.schedule.getHandle(scheduleId);
    try {
      const triggered = Date.now();
      await schedule.trigger();
      let summary: MonitorSummary | undefined;
      for (let i = 0; i < 100 && !summary; i++) {
        const [action] = (await schedule.describe()).info.recentActions;
        if (action) {
          const run = action.action.workflow;
          const summaries: MonitorSummary[] = await env.worker.client.workflow
            .getHandle(run.workflowId, run.firstExecutionRunId)
            .result();
          summary = summaries.at(-1);
        } else await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(summary, 'the schedule started a run');
      // The last whole hour before the run's scheduled time, as of that time (nothing logged then).
      assert.equal(summary.endMs - summary.startMs, 3_600_000);
      assert.equal(summary.endMs % 3_600_000, 0);
      assert.ok(summary.asOfMs >= summary.endMs && summary.asOfMs - summary.endMs < 3_600_000);
      assert.ok(Math.abs(summary.asOfMs - triggered) < 60_000);
      assert.equal(summary.rows, 0);
      assert.equal((await schedule.describe()).policies.overlap, 'SKIP');
    } finally {
      await schedule.delete();
    }
  });
});
