/**
 * The monitor's window read against a real Postgres: a COPY that fails while it streams (a row the
 * decoder refuses) fails the read and frees its connection — it does not wait for ever behind the
 * unfinished COPY.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectDatabase, runMigrations, type Database } from '../db/client.js';
import { readWindow } from '../monitoring/window-reader.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let testDb: TestDatabase;
let database: Database;
const start = Date.UTC(2001, 2, 1);

before(async () => {
  testDb = await createTestDatabase();
  database = connectDatabase(testDb.url);
  await runMigrations(database);
  // A few rows, then many more of the same version with another input count: the decoder refuses the
  // 101st while most of the COPY is still to come.
  await database.pool.query(
    `INSERT INTO kaizen.predictions (id, model_name, version, event_ts, score, inputs, predicted_at)
     SELECT 'p' || i, 'm', 1, $1::timestamptz + i * interval '1 second', 0.5,
       CASE WHEN i < 100 THEN ARRAY[1.0, 2.0]::float8[] ELSE ARRAY[1.0, 2.0, 3.0]::float8[] END, now()
     FROM generate_series(0, 150999) AS i`,
    [new Date(start)],
  );
});

after(async () => {
  await database?.close();
  await testDb?.drop();
});

test('a window read that fails mid-stream rejects at once and leaves no connection held', async () => {
  const window = { model: 'm', startMs: start, endMs: start + 86_400_000, asOfMs: start + 86_400_000 };
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    readWindow(database.pool, window).then(
      () => 'read',
      (error: Error) => error.message,
    ),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve('hung'), 20_000))),
  ]);
  clearTimeout(timer);
  assert.match(outcome, /v1 rows hold 2 and 3 inputs/);
  // The pool is whole: the next read gets a connection and finds the window's first rows.
  const head = await readWindow(database.pool, { ...window, endMs: start + 1000 });
  assert.equal(head[0].rows, 1);
  assert.equal(database.pool.waitingCount, 0);
});
