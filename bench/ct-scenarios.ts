/**
 * The worlds of bench:ct, from the recorded flights: `real` (as recorded), `sudden` / `gradual` /
 * `recurring` (from April 1, flights departing the busiest hubs arrive SHIFT_MINUTES later: at once,
 * growing over 3 weeks, or on alternate weeks — concept drift: the outcome changes, the recorded
 * history the features read does not), and `control` (the six months' days shuffled: the same world
 * throughout, no drift). Pure functions of the flights' columns (test/ct-scenarios.test.ts).
 */
import type { RawColumn } from '../feature-store/index.js';
import { mulberry32, shuffle } from '../models/prng.js';
import { DAY_MS } from '../runtime/replay.js';

export const JAN_1 = Date.UTC(2001, 0, 1);
export const MAR_1 = Date.UTC(2001, 2, 1);
export const APR_1 = Date.UTC(2001, 3, 1);
export const JUL_1 = Date.UTC(2001, 6, 1);
export const HUBS = ['ORD', 'DFW', 'ATL'];
export const SHIFT_MINUTES = 30;
export const SCENARIOS = ['real', 'sudden', 'gradual', 'recurring', 'control'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** The recorded flights, decoded once. */
export interface Flights {
  length: number;
  date: Float64Array;
  delay: Float64Array;
  origin: Extract<RawColumn, { kind: 'string' }>;
  destination: Extract<RawColumn, { kind: 'string' }>;
  distance: RawColumn;
}

/** A scenario's world: when each flight departs and how late it arrives. */
export interface World {
  date: Float64Array;
  delay: Float64Array;
  driftStartMs: number | null;
}

export function world(flights: Flights, scenario: Scenario): World {
  const hub = new Uint8Array(flights.origin.dictionary.length);
  flights.origin.dictionary.forEach((code, i) => (hub[i] = HUBS.includes(code) ? 1 : 0));
  const shiftAt = (t: number): number => {
    if (t < APR_1) return 0;
    const days = (t - APR_1) / DAY_MS;
    if (scenario === 'sudden') return 1;
    if (scenario === 'gradual') return Math.min(1, days / 21);
    return Math.floor(days / 7) % 2 === 0 ? 1 : 0;
  };
  if (scenario === 'real') return { date: flights.date, delay: flights.delay, driftStartMs: null };
  if (scenario === 'control') {
    const days = Math.round((JUL_1 - JAN_1) / DAY_MS);
    const perm = new Int32Array(days).map((_, i) => i);
    shuffle(perm, mulberry32(2001));
    // The recorded data has a few flights on July 1, past the six months: they keep their day.
    const date = flights.date.map((t) => {
      const day = Math.floor((t - JAN_1) / DAY_MS);
      return day >= 0 && day < days ? JAN_1 + perm[day] * DAY_MS + (t - JAN_1 - day * DAY_MS) : t;
    });
    return { date, delay: flights.delay, driftStartMs: null };
  }
  const delay = flights.delay.map((d, i) =>
    hub[flights.origin.codes[i]] ? d + SHIFT_MINUTES * shiftAt(flights.date[i]) : d,
  );
  return { date: flights.date, delay, driftStartMs: APR_1 };
}

/**
 * Rows by day of departure, January 1 to June 30: `order` holds the rows of day d in
 * [start[d], start[d + 1]). Rows outside those days (the recorded July 1 flights) are in no day.
 */
export function byDay(date: Float64Array): { order: Uint32Array; start: Uint32Array } {
  const days = Math.round((JUL_1 - JAN_1) / DAY_MS);
  const start = new Uint32Array(days + 1);
  const dayOf = (t: number) => Math.floor((t - JAN_1) / DAY_MS);
  const inSpan = (d: number) => d >= 0 && d < days;
  for (const t of date) if (inSpan(dayOf(t))) start[dayOf(t) + 1]++;
  for (let d = 0; d < days; d++) start[d + 1] += start[d];
  const fill = start.slice(0, days);
  const order = new Uint32Array(start[days]);
  date.forEach((t, i) => {
    if (inSpan(dayOf(t))) order[fill[dayOf(t)]++] = i;
  });
  return { order, start };
}
