import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { defineEntity } from '../feature-store/definitions/entity.js';
import { defineFeatureView } from '../feature-store/definitions/feature-view.js';
import { applyDefinitions } from '../feature-store/registry/apply.js';
import { upsertMaterializeSchedule } from '../runtime/schedules.js';
import { startIntegration, type Integration } from './support/integration.js';
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

describe('scheduled incremental materialization (Temporal Schedule)', () => {
  let env: Integration;
  let worker: TestWorker;

  before(async () => {
    env = await startIntegration({ files: { 'delays.csv': CSV }, activities: { now: () => NOW } });
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
    const opts = { view: 'sched_delays', every: '1h', taskQueue: worker.taskQueue };
    const first = await upsertMaterializeSchedule(worker.client, opts);
    assert.deepEqual(first, { scheduleId: 'materialize:sched_delays', created: true });
    assert.equal((await upsertMaterializeSchedule(worker.client, { ...opts, every: '2h' })).created, false);
    const schedule = worker.client.schedule.getHandle(first.scheduleId);
    const description = await schedule.describe();
    assert.equal(description.spec.intervals?.[0]?.every, 2 * 3_600_000);

    const runOnce = async () => {
      const before = (await schedule.describe()).info.recentActions.length;
      await schedule.trigger();
      for (let i = 0; i < 100; i++) {
        const recent = (await schedule.describe()).info.recentActions;
        if (recent.length > before) {
          const started = recent[recent.length - 1].action.workflow;
          return worker.client.workflow.getHandle(started.workflowId, started.firstExecutionRunId).result();
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('the schedule did not start a run');
    };

    const result = await runOnce();
    // Chunks [Dec 28, Jan 4) and [Jan 4, Jan 11) are complete before Jan 12; Jan 16 is not yet due.
    assert.equal(result?.chunks, 2);
    assert.equal(result?.rowsWritten, 2);
    const { rows } = await env.database.pool.query(
      `SELECT count(*) AS n FROM kaizen_offline."sched_delays__v1"`,
    );
    assert.equal(rows[0].n, 2);
    assert.equal(await runOnce(), null, 'nothing is due on the next run');
  });
});
