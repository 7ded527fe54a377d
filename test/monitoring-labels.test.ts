/**
 * Labels from a label source (real Postgres): every source row becomes a label or a quarantine entry
 * with its reason; a chunk is ingested exactly once per state of its rows (re-ingesting an unchanged
 * chunk writes nothing, a corrected file is taken whole again); bad definitions are refused; and the
 * `feedback.record` procedure refuses malformed batches before touching anything.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TRPCError } from '@trpc/server';
import { asc, eq } from 'drizzle-orm';
import { connectDatabase, runMigrations, type Database } from '../db/client.js';
import { labelChunks, labels, predictionFeedback, quarantine } from '../db/schema.js';
import { defineEntity } from '../feature-store/index.js';
import { recordFeedback } from '../monitoring/labels/feedback.js';
import { ingestLabelChunk, labelQuarantineName, refileUntimedLabels } from '../monitoring/labels/ingest.js';
import { resolveLabels } from '../monitoring/labels/resolve.js';
import { insertPredictions } from '../serving/prediction-log.js';
import { defineLabelSource, labelKeyOf } from '../monitoring/labels/label-source.js';
import { applyMonitoringDefinitions } from '../monitoring/registry.js';
import { getDefinition } from '../models/definitions.js';
import type { ServingDeps } from '../serving/context.js';
import { createServingMetrics } from '../serving/metrics.js';
import { createPredictionLog } from '../serving/prediction-log.js';
import { createCaller } from '../serving/router.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const route = defineEntity({ name: 'route', joinKey: 'route' });
const source = defineLabelSource({
  name: 'arrived_late',
  entities: [route],
  entityColumns: { route: ['origin', 'destination'] },
  request: { departure: { column: 'departed', type: 'timestamp' } },
  source: { kind: 'csv', path: 'arrivals.csv', timestampField: 'departed' },
  label: { column: 'late' },
  known: { after: '1h', plusMinutesFrom: 'delay' },
});
const WEEK = { startMs: Date.UTC(2001, 0, 4), endMs: Date.UTC(2001, 0, 11) };
const CSV = [
  'departed,origin,destination,late,delay',
  '2001-01-05T08:00:00Z,SFO,LAX,1,30', // a label, known 1h30 after departure
  '2001-01-05T09:00:00Z,SFO,LAX,0,-5', // early: known 1h after
  '2001-01-05T10:00:00Z,,LAX,1,0', // no origin
  '2001-01-05T11:00:00Z,SFO,LAX,2,0', // not 0/1
  '2001-01-05T12:00:00Z,SFO,LAX,,0', // no label
  'yesterday,SFO,LAX,1,0', // no usable time
  '2001-01-06T12:00:00Z,OAK,SEA,true,0', // text where a number is due
];

describe('label sources: ingestion, quarantine, revisions (Postgres)', () => {
  let testDb: TestDatabase;
  let database: Database;
  let dataRoot: string;
  const write = (lines: string[]) => writeFileSync(path.join(dataRoot, 'arrivals.csv'), lines.join('\n'));
  const deps = () => ({ db: database.db, pool: database.pool, dataRoot });

  before(async () => {
    dataRoot = mkdtempSync(path.join(os.tmpdir(), 'kaizen-labels-'));
    testDb = await createTestDatabase();
    database = connectDatabase(testDb.url);
    await runMigrations(database);
    await applyMonitoringDefinitions(database.db, { labelSources: [source], monitorPolicies: [] });
  });

  after(async () => {
    await database?.close();
    await testDb?.drop();
    rmSync(dataRoot, { recursive: true, force: true });
  });

  test('every row is a label or quarantined with its reason; keys are spelled as predictions carry them', async () => {
    write(CSV);
    const stored = await getDefinition<typeof source>(database.db, 'labelSource', 'arrived_late');
    const chunk = await ingestLabelChunk(deps(), stored, WEEK);
    assert.deepEqual([chunk.skipped, chunk.rows, chunk.quarantined], [false, 2, 4]);
    assert.equal(await refileUntimedLabels(deps(), stored), 1);
    const rows = await database.db.select().from(labels).orderBy(asc(labels.position));
    const keyOf = labelKeyOf(source);
    assert.deepEqual(
      rows.map((r) => [r.key, r.eventTs.toISOString(), r.knownAt.toISOString(), r.label]),
      [
        [
          keyOf((f) => ({ route: ['SFO', 'LAX'], departure: '2001-01-05T08:00:00Z' })[f]),
          '2001-01-05T08:00:00.000Z',
          '2001-01-05T09:30:00.000Z',
          1,
        ],
        [
          keyOf((f) => ({ route: ['SFO', 'LAX'], departure: Date.UTC(2001, 0, 5, 9) })[f]),
          '2001-01-05T09:00:00.000Z',
          '2001-01-05T10:00:00.000Z',
          0,
        ],
      ],
    );
    const reasons = await database.db
      .select({ position: quarantine.position, reason: quarantine.reason })
      .from(quarantine)
      .where(eq(quarantine.viewName, labelQuarantineName('arrived_late')))
      .orderBy(asc(quarantine.position));
    assert.deepEqual(
      reasons.map((r) => r.position),
      [2, 3, 4, 5, 6],
    );
    assert.match(reasons[0].reason, /^missing entity key: column "origin"/);
    assert.match(reasons[1].reason, /^wrong type: label column "late" value 2 is not 0 or 1/);
    assert.match(reasons[2].reason, /^missing label: column "late" is null/);
    assert.match(reasons[3].reason, /timestamp/);
    assert.match(reasons[4].reason, /^wrong type: column "late" value "true" is not float64/);
  });

  test('an unchanged chunk writes nothing; a corrected file is ingested again, whole, once', async () => {
    const stored = await getDefinition<typeof source>(database.db, 'labelSource', 'arrived_late');
    const again = await ingestLabelChunk(deps(), stored, WEEK);
    assert.equal(again.skipped, true);
    const [ledger] = await database.db.select().from(labelChunks);
    // The bad label corrected, a late one appended.
    write([
      ...CSV.slice(0, 4),
      '2001-01-05T11:00:00Z,SFO,LAX,1,0',
      ...CSV.slice(5),
      '2001-01-07T11:00:00Z,OAK,SEA,0,0',
    ]);
    const revised = await ingestLabelChunk(deps(), stored, WEEK);
    assert.deepEqual([revised.skipped, revised.rows, revised.quarantined], [false, 4, 3]);
    const [after] = await database.db.select().from(labelChunks);
    assert.ok(after.committedAt > ledger.committedAt);
    assert.equal((await database.db.select().from(labels)).length, 4);
    assert.equal(
      (await database.db.select().from(quarantine).where(eq(quarantine.chunkId, revised.chunkId))).length,
      3,
    );
  });

  test('joins follow the labels: a revised chunk removes a vanished label; a label fed back by event outranks the source', async () => {
    const stored = await getDefinition<typeof source>(database.db, 'labelSource', 'arrived_late');
    // Two predictions of SFO→LAX flights, made an hour before each departed.
    const at = (iso: string) => new Date(Date.parse(iso) - 3_600_000);
    await insertPredictions(
      database.db,
      [
        ['p-08', '2001-01-05T08:00:00Z'],
        ['p-09', '2001-01-05T09:00:00Z'],
      ].map(([id, departure]) => ({
        id,
        modelName: 'late',
        version: 1,
        source: 'batch',
        entities: { route: ['SFO', 'LAX'], departure },
        eventTs: at(departure),
        score: 0.5,
        features: null,
        inputs: [],
        predictedAt: new Date(),
      })),
    );
    const resolve = () => resolveLabels(database.pool, stored, 'late', WEEK, { changeMarginMs: 0 });
    const labelOf = async (id: string) =>
      (await database.db.select().from(predictionFeedback).where(eq(predictionFeedback.predictionId, id)))[0];
    assert.deepEqual(await resolve(), { predictions: 2, keyed: 2, matched: 2, written: 2, removed: 0 });
    assert.deepEqual([(await labelOf('p-08')).label, (await labelOf('p-09')).label], [1, 0]);
    const none = { predictions: 0, keyed: 0, matched: 0, written: 0, removed: 0 };
    assert.deepEqual(await resolve(), none, 'nothing changed: nothing is joined again');
    // A chunk committed over a later week holds no label these predictions could take (past their
    // horizon): still nothing to join again.
    const later = { startMs: WEEK.endMs + 7 * 86_400_000, endMs: WEEK.endMs + 14 * 86_400_000 };
    assert.equal((await ingestLabelChunk(deps(), stored, later)).skipped, false);
    assert.deepEqual(await resolve(), none);
    // The 09:00 flight's row becomes unusable: the chunk is revised and that label is gone.
    write([...CSV.slice(0, 2), '2001-01-05T09:00:00Z,SFO,LAX,,-5', ...CSV.slice(3)]);
    assert.equal((await ingestLabelChunk(deps(), stored, WEEK)).skipped, false);
    const revised = await resolve();
    assert.deepEqual([revised.matched, revised.removed], [1, 1]);
    assert.equal(await labelOf('p-09'), undefined);
    // A label fed back for the 08:00 flight wins over the source's, even after the source is ingested again.
    const fed = await recordFeedback(database.db, [
      {
        source: 'arrived_late',
        entities: { route: ['SFO', 'LAX'], departure: '2001-01-05T08:00:00Z' },
        eventTime: '2001-01-05T08:00:00Z',
        label: 0,
      },
    ]);
    assert.deepEqual(fed.counts, { recorded: 1 });
    write([...CSV.slice(0, 2), '2001-01-05T09:00:00Z,SFO,LAX,,-4', ...CSV.slice(3)]);
    assert.equal((await ingestLabelChunk(deps(), stored, WEEK)).skipped, false);
    await resolve();
    assert.deepEqual(
      [(await labelOf('p-08')).label, (await labelOf('p-08')).source],
      [0, 'labels:arrived_late'],
    );
    // Restore the file the next tests expect.
    write(CSV);
    await ingestLabelChunk(deps(), stored, WEEK);
  });

  test('keys with tabs, newlines and backslashes are stored as spelled (the chunk is written through COPY)', async () => {
    const stored = await getDefinition<typeof source>(database.db, 'labelSource', 'arrived_late');
    const origin = 'S\\F\tO\nX \\N';
    write([CSV[0], `2001-02-05T08:00:00Z,"${origin}",LAX,1,0`]);
    const february = { startMs: Date.UTC(2001, 1, 1), endMs: Date.UTC(2001, 1, 8) };
    const chunk = await ingestLabelChunk(deps(), stored, february);
    assert.deepEqual([chunk.skipped, chunk.rows, chunk.quarantined], [false, 1, 0]);
    const [row] = await database.db
      .select()
      .from(labels)
      .where(eq(labels.eventTs, new Date(Date.UTC(2001, 1, 5, 8))));
    const keyOf = labelKeyOf(source);
    assert.equal(
      row.key,
      keyOf((f) => ({ route: [origin, 'LAX'], departure: '2001-02-05T08:00:00Z' })[f]),
    );
  });

  test('definitions that cannot work are refused when declared', () => {
    assert.throws(
      () => defineLabelSource({ ...source, name: 'x', source: { kind: 'csv', path: 'a.csv' } }),
      /timestampField/,
    );
    assert.throws(
      () => defineLabelSource({ ...source, name: 'x', entities: [], request: {} }),
      /at least one entity or request field/,
    );
    assert.throws(() => defineLabelSource({ ...source, name: 'Bad Name' }), /invalid label source name/);
    assert.throws(
      () => defineLabelSource({ ...source, name: 'x', request: { route: { column: 'r', type: 'string' } } }),
      /must differ/,
    );
  });

  test('feedback.record refuses malformed batches (zod), duplicates and oversize batches; keys need the scope', async () => {
    const metrics = createServingMetrics();
    const deps = {
      db: database.db,
      pool: database.pool,
      metrics,
      predictionLog: createPredictionLog({ db: database.db, metrics }),
      limits: { maxRows: 3, maxBodyBytes: 1 << 20 },
    } as unknown as ServingDeps;
    const caller = createCaller({ deps, key: { id: 'k', name: 'labels', scopes: ['feedback:write'] } });
    const id = '00000000-0000-4000-8000-000000000001';
    const refused = async (input: unknown, pattern: RegExp) =>
      assert.rejects(caller.feedback.record(input as never), (error: unknown) => {
        assert.ok(error instanceof TRPCError && error.code === 'BAD_REQUEST', String(error));
        assert.match(error.message, pattern);
        return true;
      });
    await refused({ labels: [{ predictionId: id, label: 2 }] }, /invalid/i);
    await refused({ labels: [{ predictionId: id, label: 0.5 }] }, /invalid/i);
    await refused({ labels: [] }, /too small|>=1/i);
    await refused(
      {
        labels: [
          { predictionId: id, label: 1 },
          { predictionId: id, label: 0 },
        ],
      },
      /labelled twice/,
    );
    await refused(
      {
        labels: Array.from({ length: 4 }, () => ({
          source: 'arrived_late',
          entities: {},
          eventTime: 0,
          label: 1,
        })),
      },
      /at most 3/,
    );
    await refused(
      { labels: [{ source: 'arrived_late', entities: { route: ['A', 'B'] }, label: 1 }] },
      /invalid/i,
    );
    // Booleans are labels too; an unknown prediction is reported, not stored.
    const answer = await caller.feedback.record({ labels: [{ predictionId: id, label: true }] });
    assert.deepEqual(
      answer.outcomes.map((o) => o.outcome),
      ['unknown_prediction'],
    );
    assert.match(answer.outcomes[0].reason!, new RegExp(`no prediction ${id} in the log`));
    await assert.rejects(
      createCaller({ deps, key: { id: 'k', name: 'reader', scopes: ['predict'] } }).feedback.record({
        labels: [{ predictionId: id, label: 1 }],
      }),
      /lacks scope feedback:write/,
    );
    await deps.predictionLog.close();
  });
});
