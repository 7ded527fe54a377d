import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scheduledWindows } from '../monitoring/policy.js';

const DAY = 86_400_000;
const asOfMs = Date.UTC(2001, 2, 10);

test('a tumbling window is judged again once settled: the latest and the one that ended `settle` ago', () => {
  assert.deepEqual(scheduledWindows({ asOfMs, windowMs: DAY, everyMs: DAY, settleMs: DAY }), [
    { startMs: asOfMs - 2 * DAY, endMs: asOfMs - DAY },
    { startMs: asOfMs - DAY, endMs: asOfMs },
  ]);
});

test("a sliding window holds the settled one's late labels: only the latest is judged", () => {
  // A week's window, daily: the latest holds the settled window's last day, whose labels were arriving.
  assert.deepEqual(scheduledWindows({ asOfMs, windowMs: 7 * DAY, everyMs: DAY, settleMs: DAY }), [
    { startMs: asOfMs - 7 * DAY, endMs: asOfMs },
  ]);
  // Two days' window, settling over two days: the latest no longer holds all of them.
  assert.equal(scheduledWindows({ asOfMs, windowMs: 2 * DAY, everyMs: DAY, settleMs: 2 * DAY }).length, 2);
  // Off the interval's grid (a run triggered at noon): windows still end on it.
  assert.deepEqual(
    scheduledWindows({ asOfMs: asOfMs + DAY / 2, windowMs: DAY, everyMs: DAY, settleMs: DAY / 4 }),
    [{ startMs: asOfMs - DAY, endMs: asOfMs }],
  );
});
