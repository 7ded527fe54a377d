/**
 * `kaizen erase` (eraseEntityWorkflow) on the real stack with the flights sample: after erasing one
 * airport, nothing of it remains — read back through every path: offline and online stores, the
 * stored training set (rewritten, hashes and lineage updated), cached exports, the prediction log and
 * the labels fed back to it, label sources — while every other airport is untouched; the request and
 * its outcome are audited without the key; a later materialization or training set leaves it out.
 * Retention purges (scheduled) remove rows older than their retention, recorded.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import { eq } from 'drizzle-orm';
import { erasures, trainingSets } from '../db/schema.js';
import { flightDelayed } from '../examples/flights/continuous-training.js';
import { flightFeatureRefs } from '../examples/flights/training-set.js';
import type { TrainingSetManifest } from '../feature-store/point-in-time/training-set.js';
import { ingestLabelChunk } from '../monitoring/labels/ingest.js';
import { applyMonitoringDefinitions, getLabelSource } from '../monitoring/registry.js';
import { runBatchScore } from '../runtime/batch-score-runner.js';
import { runErasure } from '../runtime/erasure-runner.js';
import { upsertRetentionSchedule } from '../runtime/schedules.js';
import { runTrainingSetBuild } from '../runtime/training-set-runner.js';
import { retentionWorkflow } from '../workflows/index.js';
import { ledgerFingerprint } from '../feature-store/materialization/ledger.js';
import { AS_OF, JAN_1, startFlightsChampion, type FlightsChampion } from './support/flights-champion.js';
import { FLIGHTS_SAMPLE_SOURCE } from './support/flights-sample.js';
import { assertWorkflowFails } from './support/temporal.js';

const MODEL = 'erased';
const ERASED = 'SFO';
const DAY = 86_400_000;

describe('erasure: kaizen erase --entity airport=SFO (Postgres + Temporal)', () => {
  let fixture: FlightsChampion;
  const deps = () => ({ temporal: fixture.env.worker.client, taskQueue: fixture.env.worker.taskQueue });
  const query = async <T extends object>(text: string, values: unknown[] = []) =>
    (await fixture.env.database.pool.query<T>(text, values)).rows;
  const origins = (file: string) => {
    const table = tableFromIPC(readFileSync(file));
    return Array.from({ length: table.numRows }, (_, i) => String(table.getChild('origin')!.get(i)));
  };
  /** Per view keyed by airport, rows of the erased airport and of the others, offline and online. */
  async function storeRows() {
    const counts: Record<string, { erased: number; others: number }> = {};
    for (const name of ['airport_departures', 'airport_info']) {
      const view = await fixture.env.store.getView(name);
      for (const [store, table] of [
        ['offline', `kaizen_offline.${view.tables.offline}`],
        ['online', `kaizen_online.${view.tables.online}`],
      ]) {
        const [row] = await query<{ erased: number; others: number }>(
          `SELECT count(*) FILTER (WHERE entity_key = $1)::int AS erased,
                  count(*) FILTER (WHERE entity_key <> $1)::int AS others FROM ${table}`,
          [ERASED],
        );
        counts[`${name}:${store}`] = row;
      }
    }
    return counts;
  }
  const loggedByAirport = () =>
    query<{ airport: string; predictions: number; labelled: number }>(
      `SELECT p.entities ->> 'airport' AS airport, count(*)::int AS predictions, count(f.prediction_id)::int AS labelled
       FROM kaizen.predictions p LEFT JOIN kaizen.prediction_feedback f ON f.prediction_id = p.id
       WHERE p.model_name = $1 GROUP BY 1 ORDER BY 1`,
      [MODEL],
    );
  const labelsOf = (airport: string) =>
    query<{ n: number }>(`SELECT count(*)::int AS n FROM kaizen.labels WHERE split_part(key, '|', 1) = $1`, [
      airport,
    ]);

  before(async () => {
    fixture = await startFlightsChampion({ model: MODEL, features: flightFeatureRefs(), flights: 400 });
    const { db, pool } = fixture.env.database;
    // Predictions logged by batch scoring, the sample's labels ingested and joined to them.
    await runBatchScore(deps(), {
      model: MODEL,
      spine: { path: fixture.spinePath },
      out: path.join(fixture.env.dataRoot, 'scores.arrow'),
      log: true,
    });
    await applyMonitoringDefinitions(db, {
      labelSources: [{ ...flightDelayed, source: FLIGHTS_SAMPLE_SOURCE }],
      monitorPolicies: [],
    });
    const source = await getLabelSource(db, flightDelayed.name);
    for (let start = JAN_1; start < AS_OF + DAY; start += 7 * DAY)
      await ingestLabelChunk({ db, pool, dataRoot: fixture.env.dataRoot }, source, {
        startMs: start,
        endMs: start + 7 * DAY,
      });
    // Outcomes fed back to the logged predictions by id (the spine's flights left before its as-of time,
    // so the label source's join has nothing to match them with).
    await pool.query(
      `INSERT INTO kaizen.prediction_feedback (prediction_id, label, source, known_at, recorded_at, model_name, event_ts)
       SELECT id, 1, 'feedback', now(), now(), model_name, event_ts FROM kaizen.predictions WHERE model_name = $1`,
      [MODEL],
    );
  });

  after(async () => {
    await fixture?.close();
  });

  test('nothing of the key remains in any store, training set, export, log or label; the others are untouched', async () => {
    const before = await storeRows();
    for (const [name, c] of Object.entries(before))
      assert.ok(c.erased > 0 && c.others > 0, `${name} has both`);
    const loggedBefore = await loggedByAirport();
    assert.ok(
      loggedBefore.find((r) => r.airport === ERASED)!.labelled > 0,
      'labelled predictions of the key',
    );
    assert.ok((await labelsOf(ERASED))[0].n > 0);
    const setRows = origins(fixture.manifest.path);
    const erasedRows = setRows.filter((o) => o === ERASED).length;
    assert.ok(erasedRows > 0 && erasedRows < setRows.length);
    const exportsDir = path.join(fixture.env.dataRoot, 'artifacts', 'exports');
    assert.ok(readdirSync(exportsDir).some((f) => f.startsWith('airport_departures@v1-')));

    const { result } = await runErasure(deps(), {
      entity: 'airport',
      parts: [ERASED],
      requestedBy: 'test:dpo',
      reason: 'data subject request #42',
    });

    // Stores: the key's rows gone, every other row kept.
    const after = await storeRows();
    for (const [name, c] of Object.entries(after)) {
      assert.equal(c.erased, 0, `${name}: no row of the key`);
      assert.equal(c.others, before[name].others, `${name}: the other rows stay`);
    }
    const departures = await fixture.env.store.getView('airport_departures');
    const online = await fixture.env.store.readOnline(
      departures,
      { airport: [ERASED, 'OAK'] },
      { ignoreTtl: true },
    );
    assert.deepEqual(
      online.map((r) => r.status),
      ['missing', 'present'],
    );
    assert.ok(
      !readdirSync(exportsDir).some((f) => f.startsWith('airport_departures@v1-')),
      'exports removed',
    );
    for (const v of result.views.filter((v) => v.view === 'airport_departures'))
      assert.equal(v.offlineRows, before['airport_departures:offline'].erased);

    // The training set: rewritten without the key's rows; hash, manifest and lineage updated.
    const rewritten = origins(fixture.manifest.path);
    assert.equal(rewritten.length, setRows.length - erasedRows);
    assert.deepEqual(
      rewritten,
      setRows.filter((o) => o !== ERASED),
    );
    const [stored] = await fixture.env.database.db
      .select()
      .from(trainingSets)
      .where(eq(trainingSets.id, fixture.manifest.id));
    const fileHash = createHash('sha256').update(readFileSync(fixture.manifest.path)).digest('hex');
    assert.equal(stored.contentHash, fileHash, 'the recorded hash is the file’s');
    assert.equal(stored.rowCount, rewritten.length);
    const manifest = stored.manifest as TrainingSetManifest & {
      erasures: Array<{ erasure: string; rowsRemoved: number; previousContentHash: string }>;
    };
    assert.deepEqual(manifest.erasures, [
      {
        erasure: result.id,
        entity: 'airport',
        rowsRemoved: erasedRows,
        previousContentHash: fixture.manifest.contentHash,
      },
    ]);
    const manifestFile = JSON.parse(
      readFileSync(fixture.manifest.path.replace(/\.arrow$/, '.manifest.json'), 'utf8'),
    ) as typeof manifest;
    assert.deepEqual(manifestFile.erasures, manifest.erasures);
    // Scoring's own training set (its features over the same spine) is rewritten too.
    assert.ok(result.trainingSets.length >= 2, 'the champion’s and the scoring run’s training sets');
    assert.deepEqual(result.modelsTrainedOnKey, [
      { model: MODEL, version: 1, trainingSet: fixture.manifest.id },
    ]);

    // The prediction log and labels: the key's predictions, their joined labels and its labels gone.
    const loggedAfter = await loggedByAirport();
    assert.equal(
      loggedAfter.find((r) => r.airport === ERASED),
      undefined,
    );
    assert.deepEqual(
      loggedAfter,
      loggedBefore.filter((r) => r.airport !== ERASED),
    );
    assert.equal((await labelsOf(ERASED))[0].n, 0);
    assert.ok((await labelsOf('OAK'))[0].n > 0);
    assert.equal(
      result.predictionLog.predictions,
      loggedBefore.find((r) => r.airport === ERASED)!.predictions,
    );

    // Audited: who, why, when, what — and not the key itself.
    const [audit] = await fixture.env.database.db.select().from(erasures).where(eq(erasures.id, result.id));
    assert.equal(audit.requestedBy, 'test:dpo');
    assert.equal(audit.reason, 'data subject request #42');
    assert.ok(audit.completedAt && audit.completedAt >= audit.requestedAt);
    assert.deepEqual((audit.outcome as { predictionLog: unknown }).predictionLog, result.predictionLog);
    assert.ok(!JSON.stringify(audit).includes(ERASED), 'the audit row does not hold the key');
  });

  test('after the erasure: materialization leaves the key out (reported), a new training set has none of its features', async () => {
    const departures = await fixture.env.store.getView('airport_departures');
    // A chunk not materialized before: the source still holds the key's flights.
    const chunk = await fixture.env.store.materializeChunk(departures, {
      startMs: AS_OF,
      endMs: AS_OF + DAY,
    });
    assert.ok((chunk.rowsErased ?? 0) > 0, 'the key’s rows are counted as erased');
    assert.ok(chunk.rowsWritten > 0);
    const [row] = await query<{ n: number }>(
      `SELECT count(*)::int AS n FROM kaizen_offline.${departures.tables.offline} WHERE entity_key = $1`,
      [ERASED],
    );
    assert.equal(row.n, 0);

    const { manifest } = await runTrainingSetBuild(deps(), {
      spine: fixture.manifest.spine,
      features: flightFeatureRefs(),
      out: path.join(fixture.env.dataRoot, 'after-erasure.arrow'),
    });
    const table = tableFromIPC(readFileSync(manifest.path));
    const feature = table.getChild('airport_departures__departures_24h')!;
    let erasedRows = 0;
    for (let i = 0; i < table.numRows; i++)
      if (String(table.getChild('origin')!.get(i)) === ERASED) {
        erasedRows++;
        assert.equal(feature.get(i), null, `row ${i}: no feature of the erased key`);
      }
    assert.ok(erasedRows > 0, 'the spine (the user’s file) still names the key');
    assert.ok(existsSync(manifest.path));
  });

  test('after the erasure: a label chunk ingested again (its source changed) leaves the key out', async () => {
    const { db, pool } = fixture.env.database;
    const source = await getLabelSource(db, flightDelayed.name);
    const before = (await labelsOf('OAK'))[0].n;
    // As if the chunk's source rows had changed: its ledger entry gone, it is ingested anew.
    await pool.query(`DELETE FROM kaizen.label_chunks WHERE range_start = $1`, [new Date(JAN_1)]);
    await pool.query(`DELETE FROM kaizen.labels WHERE chunk_id LIKE $1`, [
      `%${new Date(JAN_1).toISOString()}%`,
    ]);
    const chunk = await ingestLabelChunk({ db, pool, dataRoot: fixture.env.dataRoot }, source, {
      startMs: JAN_1,
      endMs: JAN_1 + 7 * DAY,
    });
    assert.equal(chunk.skipped, false);
    assert.equal((await labelsOf(ERASED))[0].n, 0, 'no label of the erased key');
    assert.equal((await labelsOf('OAK'))[0].n, before, 'the others back as they were');
  });

  test('an unknown entity, an empty key or no reason fail the workflow at once, naming why', async () => {
    await assertWorkflowFails(
      runErasure(deps(), { entity: 'passenger', parts: ['x'], requestedBy: 't', reason: 'r' }),
      /unknown entity "passenger"/,
    );
    await assertWorkflowFails(
      runErasure(deps(), { entity: 'airport', parts: [' '], requestedBy: 't', reason: 'r' }),
      /one non-empty text part/,
    );
    await assertWorkflowFails(
      runErasure(deps(), { entity: 'airport', parts: ['OAK'], requestedBy: 't', reason: '' }),
      /give a reason/,
    );
  });

  test('retention: a schedule purges view rows and prediction log entries older than their retention, recorded', async () => {
    const { client, taskQueue } = fixture.env.worker;
    const policy = { views: { airport_departures: '3d' }, predictions: '1d' };
    const created = await upsertRetentionSchedule(client, { every: '1d', policy, taskQueue });
    assert.equal(created.scheduleId, 'retention');
    const described = await client.schedule.getHandle('retention').describe();
    assert.equal(described.action.type, 'startWorkflow');
    assert.deepEqual(described.action.args, [policy]);
    await assert.rejects(
      upsertRetentionSchedule(client, { every: '1d', policy: {}, taskQueue }),
      /needs --view <name>=<duration> or --predictions <duration>/,
    );
    await client.schedule.getHandle('retention').delete();

    const departures = await fixture.env.store.getView('airport_departures');
    const table = `kaizen_offline.${departures.tables.offline}`;
    const cutoff = AS_OF - 2 * DAY; // a run as of AS_OF + 1d keeping 3 days
    const counts = async () =>
      (
        await query<{ old: number; kept: number }>(
          `SELECT count(*) FILTER (WHERE event_ts < $1)::int AS old, count(*) FILTER (WHERE event_ts >= $1)::int AS kept FROM ${table}`,
          [new Date(cutoff)],
        )
      )[0];
    const before = await counts();
    assert.ok(before.old > 0 && before.kept > 0);
    const fingerprint = await ledgerFingerprint(fixture.env.database.db, departures);
    const [logged] = await query<{ n: number }>(`SELECT count(*)::int AS n FROM kaizen.predictions`);
    assert.ok(logged.n > 0);

    // Predictions were logged just now: a run two days ahead finds them all older than a day.
    const views = await client.workflow.execute(retentionWorkflow, {
      workflowId: 'retention-test-views',
      taskQueue,
      args: [{ views: policy.views, asOfMs: AS_OF + DAY }],
    });
    const log = await client.workflow.execute(retentionWorkflow, {
      workflowId: 'retention-test-log',
      taskQueue,
      args: [{ predictions: policy.predictions, asOfMs: Date.now() + 2 * DAY }],
    });
    assert.deepEqual(await counts(), { old: 0, kept: before.kept });
    assert.equal(views[0].views?.[0].offlineRows, before.old);
    assert.equal(log[0].predictionLog?.predictions, logged.n);
    const [left] = await query<{ n: number }>(
      `SELECT (SELECT count(*) FROM kaizen.predictions) + (SELECT count(*) FROM kaizen.prediction_feedback)::int AS n`,
    );
    assert.equal(Number(left.n), 0);
    const purges = await query<{ target: string; rows: number; purged_by: string }>(
      `SELECT target, rows::int, purged_by FROM kaizen.retention_purges ORDER BY id`,
    );
    assert.deepEqual(purges, [
      { target: 'view:airport_departures@v1', rows: before.old, purged_by: 'retention-test-views' },
      { target: 'predictions', rows: logged.n, purged_by: 'retention-test-log' },
    ]);
    assert.notEqual(
      (await ledgerFingerprint(fixture.env.database.db, departures)).hash,
      fingerprint.hash,
      'exports and indexes of the view are made anew',
    );
  });
});
