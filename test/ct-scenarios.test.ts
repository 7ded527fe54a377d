/** The worlds bench:ct replays: what each scenario changes, and only that. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { APR_1, byDay, JAN_1, JUL_1, SHIFT_MINUTES, world, type Flights } from '../bench/ct-scenarios.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DAYS = Math.round((JUL_1 - JAN_1) / DAY);

/** Two flights a day, one from a hub (ORD) and one not (SFO), at 09:00 and 17:30, Jan 1 – Jun 30. */
function flights(): Flights {
  const date: number[] = [];
  const delay: number[] = [];
  const codes: number[] = [];
  for (let d = 0; d < DAYS; d++) {
    date.push(JAN_1 + d * DAY + 9 * HOUR, JAN_1 + d * DAY + 17.5 * HOUR);
    delay.push(d % 40, 5);
    codes.push(0, 1);
  }
  const n = date.length;
  return {
    length: n,
    date: Float64Array.from(date),
    delay: Float64Array.from(delay),
    origin: { kind: 'string', codes: Int32Array.from(codes), dictionary: ['ORD', 'SFO'] },
    destination: { kind: 'string', codes: new Int32Array(n), dictionary: ['LAX'] },
    distance: { kind: 'number', values: new Float64Array(n), valid: new Uint8Array(n).fill(1) },
  };
}

/** The shift a world adds to the hub flight of day `d` (index 2d); the other flight must be as recorded. */
function shifts(f: Flights, scenario: 'sudden' | 'gradual' | 'recurring'): number[] {
  const w = world(f, scenario);
  assert.deepEqual(w.date, f.date, 'departures unchanged');
  for (let i = 1; i < f.length; i += 2) assert.equal(w.delay[i], f.delay[i], 'not a hub: unchanged');
  assert.equal(w.driftStartMs, APR_1);
  return Array.from({ length: DAYS }, (_, d) => w.delay[2 * d] - f.delay[2 * d]);
}

describe('bench:ct scenario worlds', () => {
  const f = flights();
  const april = Math.round((APR_1 - JAN_1) / DAY);

  test('real is the recorded data', () => {
    const w = world(f, 'real');
    assert.equal(w.date, f.date);
    assert.equal(w.delay, f.delay);
    assert.equal(w.driftStartMs, null);
  });

  test('sudden: hub flights arrive SHIFT_MINUTES later from April 1, at once', () => {
    const s = shifts(f, 'sudden');
    assert.ok(s.slice(0, april).every((x) => x === 0));
    assert.ok(s.slice(april).every((x) => x === SHIFT_MINUTES));
  });

  test('gradual: the shift grows linearly over three weeks, then holds', () => {
    const s = shifts(f, 'gradual');
    assert.ok(s.slice(0, april).every((x) => x === 0));
    // The hub flight departs at 09:00: day k of April is k + 0.375 days in.
    assert.ok(Math.abs(s[april + 10] - (SHIFT_MINUTES * 10.375) / 21) < 1e-9);
    assert.ok(s.slice(april + 21).every((x) => x === SHIFT_MINUTES));
  });

  test('recurring: the shift is on for a week, off the next, from April 1', () => {
    const s = shifts(f, 'recurring');
    assert.ok(s.slice(0, april).every((x) => x === 0));
    for (let k = 0; k < DAYS - april; k++)
      assert.equal(s[april + k], Math.floor(k / 7) % 2 === 0 ? SHIFT_MINUTES : 0, `April day ${k}`);
  });

  test('control: whole days shuffled, each to a distinct day, times of day and outcomes kept', () => {
    const w = world(f, 'control');
    assert.equal(w.driftStartMs, null);
    assert.deepEqual(w.delay, f.delay);
    const target = new Set<number>();
    let moved = 0;
    for (let d = 0; d < DAYS; d++) {
      const [a, b] = [w.date[2 * d], w.date[2 * d + 1]];
      assert.equal(a - f.date[2 * d], b - f.date[2 * d + 1], 'both flights of a day move together');
      assert.equal((a - JAN_1) % DAY, 9 * HOUR, 'time of day kept');
      assert.ok(a >= JAN_1 && a < JUL_1);
      target.add(Math.floor((a - JAN_1) / DAY));
      if (a !== f.date[2 * d]) moved++;
    }
    assert.equal(target.size, DAYS, 'a permutation of the days');
    assert.ok(moved > DAYS * 0.9, `${moved} of ${DAYS} days moved`);
    assert.deepEqual(world(f, 'control').date, w.date, 'seeded: the same shuffle every run');
  });

  test('a flight past June 30 keeps its day in the control and is in no day of the replay', () => {
    const base = flights();
    const julyFlight = JUL_1 + 2 * HOUR;
    const g: Flights = {
      ...base,
      length: base.length + 1,
      date: Float64Array.from([...base.date, julyFlight]),
      delay: Float64Array.from([...base.delay, 30]),
      origin: { ...base.origin, codes: Int32Array.from([...base.origin.codes, 0]) },
    };
    const w = world(g, 'control');
    assert.equal(w.date[base.length], julyFlight);
    assert.ok(w.date.every(Number.isFinite));
    const { order, start } = byDay(w.date);
    assert.equal(start[DAYS], base.length);
    assert.equal(order.length, base.length);
    assert.ok(!order.includes(base.length));
  });

  test('byDay groups the rows of each day of departure', () => {
    const w = world(f, 'control');
    const { order, start } = byDay(w.date);
    assert.equal(start.length, DAYS + 1);
    assert.equal(start[DAYS], f.length);
    for (let d = 0; d < DAYS; d++) {
      const rows = Array.from(order.subarray(start[d], start[d + 1]));
      assert.equal(rows.length, 2);
      for (const r of rows) assert.equal(Math.floor((w.date[r] - JAN_1) / DAY), d);
    }
  });
});
