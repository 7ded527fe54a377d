/**
 * The batch prediction log against a real Postgres: a new part is copied straight into the log, a
 * part logged before (whole or in part) is merged, its known rows skipped; both paths write the same
 * row (binary COPY of jsonb, float8[] with nulls, timestamps), stamped with their transaction's now().
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectDatabase, runMigrations, type Database } from '../db/client.js';
import type { Column } from '../feature-store/index.js';
import {
  predictionId,
  writeBatchPredictions,
  type BatchPredictions,
} from '../models/batch-prediction-log.js';
import { eraseFromPredictionLog } from '../models/prediction-log-erasure.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let testDb: TestDatabase;
let database: Database;
const AT = Date.UTC(2001, 2, 1, 10, 30, 0, 123);

before(async () => {
  testDb = await createTestDatabase();
  database = connectDatabase(testDb.url);
  await runMigrations(database);
});

after(async () => {
  await database?.close();
  await testDb?.drop();
});

/** `rows` predictions of spine `spine`, rows [from, from + rows): inputs with nulls, a text input, a unicode key. */
function part(spine: string, from: number, rows: number): BatchPredictions {
  const at = (i: number) => from + i;
  const numeric: Column = {
    type: 'float64',
    values: Float64Array.from({ length: rows }, (_, i) => at(i) / 3),
    valid: Uint8Array.from({ length: rows }, (_, i) => (at(i) % 4 === 0 ? 0 : 1)),
  };
  const text: Column = {
    type: 'string',
    values: Array.from({ length: rows }, (_, i) => (at(i) % 5 === 0 ? null : `région ${at(i) % 3}`)),
    valid: Uint8Array.from({ length: rows }, (_, i) => (at(i) % 5 === 0 ? 0 : 1)),
  };
  return {
    model: 'm',
    version: 2,
    ids: Array.from({ length: rows }, (_, i) => predictionId('m', 2, spine, at(i))),
    entities: (i) => JSON.stringify({ airport: `ÖRD-${at(i)}`, route: ['ORD', 'LAX'] }),
    eventTs: Float64Array.from({ length: rows }, (_, i) => AT + at(i) * 1000),
    scores: Float64Array.from({ length: rows }, (_, i) => (at(i) % 10) / 10),
    inputs: [
      { name: 'x', column: numeric },
      { name: 'state', column: text },
      { name: 'y', column: { ...numeric, valid: new Uint8Array(rows).fill(1) } },
    ],
  };
}

interface LogRow {
  id: string;
  model_name: string;
  version: number;
  source: string;
  entities: unknown;
  event_ts: Date;
  score: number;
  decision: boolean;
  features: unknown;
  inputs: Array<number | null>;
  predicted_at: Date;
}

async function logged(spine: string): Promise<LogRow[]> {
  const { rows } = await database.pool.query<LogRow>(
    `SELECT id, model_name, version, source, entities, event_ts, score, decision, features, inputs, predicted_at
     FROM kaizen.predictions WHERE id = ANY($1) ORDER BY event_ts`,
    [Array.from({ length: 200 }, (_, i) => predictionId('m', 2, spine, i))],
  );
  return rows;
}

/** The row `part` describes for spine row `i`. */
function expected(spine: string, i: number) {
  return {
    id: predictionId('m', 2, spine, i),
    model_name: 'm',
    version: 2,
    source: 'batch',
    entities: { airport: `ÖRD-${i}`, route: ['ORD', 'LAX'] },
    event_ts: new Date(AT + i * 1000),
    score: (i % 10) / 10,
    decision: (i % 10) / 10 >= 0.5,
    features: { state: i % 5 === 0 ? null : `région ${i % 3}` },
    inputs: [i % 4 === 0 ? null : i / 3, null, i / 3],
  };
}

test('a new part is logged whole; again, nothing; overlapping, only its new rows — the same rows either way', async () => {
  const stamps = async () =>
    (
      await database.pool.query<{ id: string; predicted_at: Date }>(
        `SELECT id, predicted_at FROM kaizen.predictions`,
      )
    ).rows;
  const before = Date.now();
  assert.equal(await writeBatchPredictions(database.pool, part('s', 0, 100)), 100);
  assert.equal(await writeBatchPredictions(database.pool, part('s', 0, 100)), 0, 'a part logged again');
  // Rows 50..149: the first half logged, the second new.
  assert.equal(await writeBatchPredictions(database.pool, part('s', 50, 100)), 50, 'half new');
  const after = Date.now();

  const rows = await logged('s');
  assert.equal(rows.length, 150);
  rows.forEach((row, i) => {
    const { predicted_at: stampedAt, ...rest } = row;
    assert.deepEqual(rest, expected('s', i), `row ${i}`);
    assert.ok(
      stampedAt.getTime() >= before - 1000 && stampedAt.getTime() <= after + 1000,
      `row ${i} stamped now`,
    );
  });
  // One stamp per part, each part's transaction time (direct and merged paths alike).
  const byStamp = new Map<number, number>();
  for (const { predicted_at } of await stamps())
    byStamp.set(predicted_at.getTime(), (byStamp.get(predicted_at.getTime()) ?? 0) + 1);
  assert.deepEqual(
    [...byStamp.values()].sort((a, b) => a - b),
    [50, 100],
  );
});

test('a failure that is not a duplicate id fails the write and leaves nothing behind', async () => {
  const bad = part('bad', 0, 10);
  // A key the log cannot hold: jsonb refuses the text.
  const write = writeBatchPredictions(database.pool, { ...bad, entities: (i) => (i === 7 ? '{"a":' : '{}') });
  await assert.rejects(write, /json/i);
  assert.equal((await logged('bad')).length, 0);
  assert.equal(database.pool.waitingCount, 0);
});

test('erasing a key from the log takes its text and number spellings, never another key that reads as the same number', async () => {
  const log = async (id: string, entities: string) =>
    database.pool.query(
      `INSERT INTO kaizen.predictions (id, model_name, version, source, entities, score, predicted_at)
       VALUES ($1, 'spelled', 1, 'online', $2::jsonb, 0.5, now())`,
      [id, entities],
    );
  await log('a', '{"user": "042"}');
  await log('b', '{"user": 42}');
  await log('c', '{"user": "42"}');
  await log('d', '{"user": 4.5}');
  const left = async () =>
    (
      await database.pool.query<{ id: string }>(
        `SELECT id FROM kaizen.predictions WHERE model_name = 'spelled' ORDER BY id`,
      )
    ).rows.map((r) => r.id);
  assert.deepEqual(await eraseFromPredictionLog(database.pool, 'user', ['042']), {
    predictions: 1,
    feedback: 0,
  });
  assert.deepEqual(await left(), ['b', 'c', 'd']);
  assert.deepEqual(await eraseFromPredictionLog(database.pool, 'user', ['4.50']), {
    predictions: 0,
    feedback: 0,
  });
  assert.deepEqual(await eraseFromPredictionLog(database.pool, 'user', ['42']), {
    predictions: 2,
    feedback: 0,
  });
  assert.deepEqual(await left(), ['d']);
});
