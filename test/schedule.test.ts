import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineEntity } from '../feature-store/definitions/entity.js';
import { defineFeatureView } from '../feature-store/definitions/feature-view.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import { upsertMaterializeSchedule } from '../runtime/schedules.js';
import type { MaterializeResult } from '../workflows/index.js';
import { startIntegration, type Integration } from './support/integration.js';
import { storeRows } from './support/store-rows.js';
import type { TestWorker } from './support/temporal.js';

const airport = defineEntity({ name: 'airport', joinKey: 'airport' });
const CSV = [
  'ts,airport,delay',
  '2001-01-02T09:00:00Z,SFO,12',
  '2001-01-09T10:00:00Z,SFO,7',
  '2001-01-16T10:00:00Z,OAK,3',
].join('\n');
// "Now" for the incremental planner: only complete weekly chunks before it are due.
const NOW = Date.UTC(2001, 0, 12);
const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
// Weekly chunks lie on the epoch grid: Dec 28, Jan 4, Jan 11, Jan 18, Jan 25.
const DEC_28 = Date.UTC(2000, 11, 28);
const week = (k: number) => ({ startMs: DEC_28 + k * 7 * DAY, endMs: DEC_28 + (k + 1) * 7 * DAY });

describe('scheduled incremental materialization (Temporal Schedule)', () => {
  let env: Integration;
  let worker: TestWorker;
  let now = NOW;
  /** While set, every chunk waits for it inside its transaction, just before commit. */
  let commitGate: Promise<void> | undefined;
  const opts = () => ({ view: 'sched_delays', every: '1h', taskQueue: worker.taskQueue });
  const schedule = () => worker.client.schedule.getHandle('materialize:sched_delays');
  const view = () => env.store.getView('sched_delays');
  const offlineRows = async () => (await storeRows(env.database.pool, await view(), 'offline')).length;
  const childId = (range: { startMs: number; endMs: number }) =>
    `materialize:sched_delays@v1:${iso(range.startMs)}:${iso(range.endMs)}`;

  /** Starts a run now and returns its handle (runs in the same second share a workflow ID). */
  const seen = new Set<string>();
  const trigger = async () => {
    await schedule().trigger();
    for (let i = 0; i < 100; i++) {
      const started = (await schedule().describe()).info.recentActions
        .map((a) => a.action.workflow)
        .find((w) => !seen.has(w.firstExecutionRunId));
      if (started) {
        seen.add(started.firstExecutionRunId);
        return worker.client.workflow.getHandle(started.workflowId, started.firstExecutionRunId);
      }
      await sleep(100);
    }
    throw new Error('the schedule did not start a run');
  };
  const runOnce = async (): Promise<MaterializeResult | null> => (await trigger()).result();

  before(async () => {
    env = await startIntegration({
      files: { 'delays.csv': CSV },
      activities: { now: () => now, beforeChunkCommit: () => commitGate },
    });
    worker = env.worker;
    await applyDefinitions(env.database.db, {
      entities: [airport],
      views: [
        defineFeatureView({
          name: 'sched_delays',
          entities: [airport],
          source: { kind: 'csv', path: 'delays.csv', timestampField: 'ts' },
          features: { delay: 'float64' },
        }),
      ],
    });
  });

  after(async () => {
    await worker?.client.schedule
      .getHandle('materialize:sched_delays')
      .delete()
      .catch(() => undefined);
    await env?.close();
  });

  test('a triggered schedule materializes the complete chunks since the last one, then nothing', async () => {
    const first = await upsertMaterializeSchedule(worker.client, opts());
    assert.deepEqual(first, { scheduleId: 'materialize:sched_delays', created: true });
    assert.equal((await upsertMaterializeSchedule(worker.client, { ...opts(), every: '2h' })).created, false);
    const description = await schedule().describe();
    assert.equal(description.spec.intervals?.[0]?.every, 2 * 3_600_000);

    const result = await runOnce();
    // Chunks [Dec 28, Jan 4) and [Jan 4, Jan 11) are complete before Jan 12; Jan 16 is not yet due.
    assert.equal(result?.chunks, 2);
    assert.equal(result?.rowsWritten, 2);
    assert.equal(await offlineRows(), 2);
    assert.equal(await runOnce(), null, 'nothing is due on the next run');
  });

  test('rows appended late to a materialized chunk are revised by the next run, exactly once', async () => {
    appendFileSync(path.join(env.dataRoot, 'delays.csv'), '\n2001-01-10T08:00:00Z,SFO,30');
    const result = await runOnce();
    assert.deepEqual(
      [result?.chunks, result?.chunksRevised, result?.chunksSkipped, result?.rowsWritten],
      [1, 1, 0, 2],
      'the chunk [Jan 4, Jan 11) is computed again as a whole: its row and the late one',
    );
    const child = await worker.client.workflow.getHandle(childId(week(1))).describe();
    assert.equal(child.status.name, 'COMPLETED', 'under the ID a manual run of that chunk has');
    assert.equal(await offlineRows(), 3, 'the late row is added, nothing duplicated');
    const online = await storeRows(env.database.pool, await view(), 'online');
    assert.deepEqual(
      online.map((r) => `${r.entityKey}=${r.values.delay}`),
      ['SFO=30'],
    );
    assert.deepEqual(
      (await env.store.chunkStates(await view())).map((c) => [c.stale, c.revision]),
      [
        [false, 1],
        [false, 2],
      ],
    );
    assert.equal(await runOnce(), null, 'a third run finds nothing stale and nothing due');
    assert.equal(await offlineRows(), 3);
  });

  test('stale and due chunks go to one child; a trigger while it runs is a no-op', async () => {
    now = Date.UTC(2001, 0, 19);
    appendFileSync(path.join(env.dataRoot, 'delays.csv'), '\n2001-01-03T07:00:00Z,OAK,4');
    let open!: () => void;
    commitGate = new Promise((resolve) => (open = resolve));
    const span = { startMs: week(0).startMs, endMs: week(2).endMs };
    let result: MaterializeResult | null;
    try {
      const first = await trigger();
      // The first run's child holds its chunks just before commit: nothing is committed yet.
      for (let i = 0; ; i++) {
        const child = await worker.client.workflow
          .getHandle(childId(span))
          .describe()
          .catch(() => undefined);
        if (child?.status.name === 'RUNNING') break;
        if (i === 200) throw new Error(`no child ${childId(span)} started`);
        await sleep(50);
      }
      // A run started in the same second would share the first's workflow ID and not start at all.
      await sleep(1_100);
      const second = await trigger();
      assert.equal(await second.result(), null, 'the same plan: its child is in flight, nothing to do');
      open();
      result = await first.result();
    } finally {
      open();
      commitGate = undefined;
    }
    assert.deepEqual(
      [result?.chunks, result?.chunksRevised, result?.chunksSkipped, result?.rowsWritten],
      [2, 1, 0, 3],
      'the stale [Dec 28, Jan 4) and the due [Jan 11, Jan 18); [Jan 4, Jan 11) is unchanged',
    );
    const child = await worker.client.workflow.getHandle(childId(span)).describe();
    assert.deepEqual(child.memo?.chunks, 2, 'one child under the span of its chunks');
    assert.equal(await offlineRows(), 5);
    assert.equal(await runOnce(), null);
  });

  test('the lookback bounds which committed chunks a run checks; a longer one revises older chunks', async () => {
    now = Date.UTC(2001, 0, 26);
    await upsertMaterializeSchedule(worker.client, { ...opts(), lookback: '7d' });
    appendFileSync(path.join(env.dataRoot, 'delays.csv'), '\n2001-01-05T07:00:00Z,OAK,9');
    const result = await runOnce();
    assert.deepEqual(
      [result?.chunks, result?.chunksRevised, result?.rowsWritten],
      [1, 0, 0],
      'only the due (empty) [Jan 18, Jan 25): [Jan 4, Jan 11) ends more than 7 days before Jan 18',
    );
    const stale = (await env.store.chunkStates(await view())).filter((c) => c.stale);
    assert.deepEqual(
      stale.map((c) => c.startMs),
      [week(1).startMs],
      'still stale, as kaizen status says',
    );

    await upsertMaterializeSchedule(worker.client, { ...opts(), lookback: '3w' });
    const wider = await runOnce();
    assert.deepEqual([wider?.chunks, wider?.chunksRevised, wider?.rowsWritten], [1, 1, 3]);
    assert.equal(await offlineRows(), 6);
    await assert.rejects(
      upsertMaterializeSchedule(worker.client, { ...opts(), lookback: 'a week' }),
      /invalid duration "a week"/,
    );
  });
});
