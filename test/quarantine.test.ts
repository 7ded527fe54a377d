import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ActivityFailure, ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { WorkflowRunError } from '../runtime/workflow-runs.js';
import { defineEntity } from '../feature-store/definitions/entity.js';
import { defineFeatureView } from '../feature-store/definitions/feature-view.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import { startIntegration, type Integration } from './support/integration.js';

const airport = defineEntity({ name: 'airport', joinKey: 'airport' });
const features = { delay: 'float64', distance: 'int64', destination: 'string' } as const;
const RANGE = { startMs: Date.UTC(2001, 0, 4), endMs: Date.UTC(2001, 0, 11) };

const CSV = [
  'ts,airport,delay,distance,destination',
  '2001-01-05T09:00:00Z,SFO,12,100,LAX', // 0 good
  '2001-01-05T10:00:00Z,,5,100,LAX', // 1 missing key
  '2001-01-05T11:00:00Z,SFO,abc,100,LAX', // 2 wrong type
  '2001-01-05T11:30:00Z,SFO,NaN,100,LAX', // 3 non-finite
  '2001-01-05T11:45:00Z,SFO,Infinity,100,LAX', // 4 non-finite
  '3000-01-01T00:00:00Z,SFO,1,1,LAX', // 5 timestamp out of range
  'yesterday,SFO,1,1,LAX', // 6 unparseable timestamp
  '2001-01-05T12:00:00Z,SFO', // 7 malformed: too few fields
  '2001-01-05T13:00:00Z,OAK,,200,SEA', // 8 good: a null feature is a value, not an error
  '2001-01-06T08:00:00Z,OAK,-3,200,SEA', // 9 good
  '2001-01-06T09:00:00Z,SFO,1,1.5,LAX', // 10 int64 given a fraction
].join('\n');

describe('bad input (Postgres + Temporal)', () => {
  let env: Integration;

  before(async () => {
    env = await startIntegration({
      files: { 'flights.csv': CSV, 'corrupt.parquet': Buffer.from('PAR1 this is not parquet at all') },
    });
    const view = (name: string, source: Parameters<typeof defineFeatureView>[0]['source']) =>
      defineFeatureView({ name, entities: [airport], source, features });
    await applyDefinitions(env.database.db, {
      entities: [airport],
      views: [
        view('csv_flights', { kind: 'csv', path: 'flights.csv', timestampField: 'ts' }),
        view('corrupt_flights', { kind: 'parquet', path: 'corrupt.parquet', timestampField: 'ts' }),
        view('missing_flights', { kind: 'parquet', path: 'no-such-file.parquet', timestampField: 'ts' }),
      ],
    });
  });

  after(() => env?.close());

  const run = (view: string) => env.materialize({ view, ...RANGE });

  test('bad rows land in quarantine with reasons and positions; good rows are written; none is lost', async () => {
    const { result } = await run('csv_flights');
    const { rows: written } = await env.database.pool.query(
      `SELECT entity_key, delay, distance FROM kaizen_offline."csv_flights__v1" ORDER BY event_ts`,
    );
    assert.deepEqual(
      written.map((r) => [r.entity_key, r.delay, r.distance === null ? null : Number(r.distance)]),
      [
        ['SFO', 12, 100],
        ['OAK', null, 200],
        ['OAK', -3, 200],
      ],
    );
    const { rows: bad } = await env.database.pool.query(
      `SELECT position, reason, row FROM kaizen.quarantine WHERE view_name = 'csv_flights' ORDER BY position`,
    );
    assert.equal(result.rowsQuarantined, 8);
    assert.equal(result.rowsWritten + result.rowsQuarantined, 11, 'every source row is accounted for');
    const reasons = new Map(bad.map((r) => [Number(r.position), String(r.reason)]));
    assert.deepEqual([...reasons.keys()], [1, 2, 3, 4, 5, 6, 7, 10]);
    assert.match(reasons.get(1)!, /missing entity key.*airport/i);
    assert.match(reasons.get(2)!, /delay/);
    assert.match(reasons.get(3)!, /non-finite|NaN/i);
    assert.match(reasons.get(4)!, /non-finite|Infinity/i);
    assert.match(reasons.get(5)!, /out of range/i);
    assert.match(reasons.get(6)!, /timestamp/i);
    assert.match(reasons.get(7)!, /field/i);
    assert.match(reasons.get(10)!, /distance/);
    assert.equal(bad[1].row.delay, 'abc', 'the raw row is kept for inspection');
  });

  for (const [view, file, code] of [
    ['corrupt_flights', 'corrupt.parquet', 'SOURCE_CORRUPT'],
    ['missing_flights', 'no-such-file.parquet', 'SOURCE_MISSING'],
  ] as const) {
    test(`a ${code === 'SOURCE_CORRUPT' ? 'corrupt' : 'missing'} source file fails the workflow, non-retryable, naming the file`, async () => {
      await assert.rejects(run(view), (error: unknown) => {
        assert.ok(error instanceof WorkflowRunError, String(error));
        assert.ok(error.cause instanceof WorkflowFailedError);
        assert.ok(error.cause.cause instanceof ActivityFailure);
        const cause = error.cause.cause.cause;
        assert.ok(cause instanceof ApplicationFailure);
        assert.equal(cause.nonRetryable, true);
        assert.equal(cause.type, code);
        assert.ok(cause.message.includes(path.join(env.dataRoot, file)), cause.message);
        assert.equal(error.rootCause, cause.message, 'the CLI shows the activity’s own message');
        return true;
      });
    });
  }
});
