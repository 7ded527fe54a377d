import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { prepareRows, type PreparedRows } from '../feature-store/materialization/row-preparation.js';
import type { RawColumn, SourceData } from '../feature-store/sources/source-data.js';
import type {
  AggregationSpec,
  FeatureFrame,
  FeatureViewDefinition,
  TimeRange,
} from '../feature-store/definitions/types.js';
import { featureFields } from '../feature-store/definitions/view-schema.js';
import { aggregateWindows } from '../feature-store/materialization/window-aggregation.js';

type Cell = string | number | null;

/** A hand-built SourceData; `ts` holds epoch ms. */
function source(columns: Record<string, Cell[]>): SourceData {
  const raw: Record<string, RawColumn> = {};
  for (const [name, cells] of Object.entries(columns)) {
    if (cells.some((c) => typeof c === 'string')) {
      const dictionary = [...new Set(cells.filter((c): c is string => c !== null))];
      raw[name] = {
        kind: 'string',
        codes: Int32Array.from(cells, (c) => (c === null ? -1 : dictionary.indexOf(String(c)))),
        dictionary,
      };
    } else {
      raw[name] = {
        kind: 'number',
        values: Float64Array.from(cells, (c) => (c === null ? NaN : Number(c))),
        valid: Uint8Array.from(cells, (c) => (c === null ? 0 : 1)),
      };
    }
  }
  const eventTs = Float64Array.from(columns.ts, (c) => (c === null ? NaN : Number(c)));
  return {
    label: 'test',
    length: eventTs.length,
    columnNames: Object.keys(columns),
    column: (name) => raw[name],
    eventTs,
    select: (range: TimeRange) =>
      Uint32Array.from(
        [...eventTs.keys()]
          .filter((i) => eventTs[i] >= range.startMs && eventTs[i] < range.endMs)
          .sort((a, b) => eventTs[a] - eventTs[b] || a - b),
      ),
  };
}

const H = 3_600_000;
const T0 = Date.UTC(2024, 0, 1);
const at = (hours: number) => T0 + hours * H;

function windowView(
  aggregations: AggregationSpec[],
  options: { hop?: string; windows?: string[]; route?: boolean } = {},
): FeatureViewDefinition {
  return {
    kind: 'featureView',
    name: 'w',
    entities: [
      options.route
        ? { kind: 'entity', name: 'route', joinKey: 'route' }
        : { kind: 'entity', name: 'airport', joinKey: 'airport' },
    ],
    entityColumns: options.route ? { route: ['origin', 'dest'] } : undefined,
    source: { kind: 'csv', path: 'x.csv', timestampField: 'ts' },
    transform: {
      kind: 'window',
      hop: options.hop ?? '1h',
      windows: options.windows ?? ['1h', '3h'],
      aggregations,
    },
  };
}

/** Reads the caller's way: rows from [start - largest window, end). */
function run(
  view: FeatureViewDefinition,
  data: SourceData,
  range: TimeRange,
  lookbackMs: number,
): FeatureFrame {
  const rows = data.select({ startMs: range.startMs - lookbackMs, endMs: range.endMs });
  const { input, quarantined } = prepareRows(view, data, rows, 'escaped');
  assert.deepEqual(quarantined, []);
  return aggregateWindows(view, input, range);
}

/** Frame rows as objects keyed by feature (null for invalid), with `key` and `t` (hours since T0). */
function rowsOf(frame: FeatureFrame): Record<string, unknown>[] {
  return Array.from({ length: frame.length }, (_, i) => {
    const row: Record<string, unknown> = { key: frame.entityKey[i], t: (frame.eventTs[i] - T0) / H };
    for (const [name, c] of Object.entries(frame.columns))
      row[name] = c.valid[i] ? (c.values[i] as number) : null;
    return row;
  });
}

const ALL_AGGS: AggregationSpec[] = [
  { name: 'n', fn: 'count' },
  { name: 'total', fn: 'sum', column: 'delay' },
  { name: 'mean_delay', fn: 'mean', column: 'delay' },
  { name: 'lo', fn: 'min', column: 'delay' },
  { name: 'hi', fn: 'max', column: 'delay' },
  { name: 'latest', fn: 'last', column: 'delay' },
  { name: 'late', fn: 'mean', column: 'delay', compare: { op: '>', value: 15 } },
];

describe('aggregateWindows', () => {
  // Entity B appears first in the source so that output ordering by key is really exercised.
  const data = source({
    ts: [at(0.5), at(0), at(0.5), at(2), at(3), at(5)],
    airport: ['B', 'A', 'A', 'A', 'A', 'C'],
    delay: [7, 10, 20, null, 40, 1],
  });
  const range = { startMs: at(3), endMs: at(6) };

  test('hand-computed rows: boundaries, empty windows, lookback, nulls, compare, min/max/last', () => {
    const frame = run(windowView(ALL_AGGS), data, range, 3 * H);
    assert.deepEqual(
      Object.keys(frame.columns),
      ALL_AGGS.flatMap((a) => [`${a.name}_1h`, `${a.name}_3h`]),
      'aggregation order, then window order',
    );
    assert.deepEqual(rowsOf(frame), [
      // t=3h. 1h window [2h,3h): only the null-delay event: counted, but no value.
      // 3h window [0h,3h): lookback events at 0h (exactly t-w: included), 0.5h and the null at 2h.
      // The event at 3h (exactly t) is excluded.
      {
        key: 'A',
        t: 3,
        n_1h: 1,
        n_3h: 3,
        total_1h: null,
        total_3h: 30,
        mean_delay_1h: null,
        mean_delay_3h: 15,
        lo_1h: null,
        lo_3h: 10,
        hi_1h: null,
        hi_3h: 20,
        latest_1h: null,
        latest_3h: 20,
        late_1h: null,
        late_3h: 0.5,
      },
      // t=4h. 1h [3h,4h): delay 40. 3h [1h,4h): null and 40.
      {
        key: 'A',
        t: 4,
        n_1h: 1,
        n_3h: 2,
        total_1h: 40,
        total_3h: 40,
        mean_delay_1h: 40,
        mean_delay_3h: 40,
        lo_1h: 40,
        lo_3h: 40,
        hi_1h: 40,
        hi_3h: 40,
        latest_1h: 40,
        latest_3h: 40,
        late_1h: 1,
        late_3h: 1,
      },
      // t=5h. 1h [4h,5h) is empty (count 0, values null) inside a non-empty 3h window [2h,5h).
      {
        key: 'A',
        t: 5,
        n_1h: 0,
        n_3h: 2,
        total_1h: null,
        total_3h: 40,
        mean_delay_1h: null,
        mean_delay_3h: 40,
        lo_1h: null,
        lo_3h: 40,
        hi_1h: null,
        hi_3h: 40,
        latest_1h: null,
        latest_3h: 40,
        late_1h: null,
        late_3h: 1,
      },
      // B: its only event (0.5h, lookback) is in the 3h window at t=3h; at 4h the window [1h,4h) is
      // empty, so no row. C's event at 5h is not before any boundary in range: no row at all.
      {
        key: 'B',
        t: 3,
        n_1h: 0,
        n_3h: 1,
        total_1h: null,
        total_3h: 7,
        mean_delay_1h: null,
        mean_delay_3h: 7,
        lo_1h: null,
        lo_3h: 7,
        hi_1h: null,
        hi_3h: 7,
        latest_1h: null,
        latest_3h: 7,
        late_1h: null,
        late_3h: 0,
      },
    ]);
    assert.deepEqual(
      featureFields(windowView(ALL_AGGS)).map((f) => `${f.name}:${f.type}`),
      Object.entries(frame.columns).map(([name, c]) => `${name}:${c.type}`),
    );
    assert.equal(frame.columns.n_1h.type, 'int64');
    assert.equal(frame.columns.mean_delay_1h.type, 'float64');
  });

  test('without the lookback rows the first hop loses them (the caller must pass the lookback)', () => {
    const frame = run(windowView([{ name: 'n', fn: 'count' }]), data, range, 0);
    assert.deepEqual(rowsOf(frame), [
      { key: 'A', t: 4, n_1h: 1, n_3h: 1 },
      { key: 'A', t: 5, n_1h: 0, n_3h: 1 },
    ]);
  });

  test('range not aligned to the hop: boundaries are epoch-aligned multiples of the hop', () => {
    const frame = run(
      windowView([{ name: 'n', fn: 'count' }]),
      data,
      { startMs: at(2.5), endMs: at(4.5) },
      3 * H,
    );
    assert.deepEqual(
      rowsOf(frame).map((r) => [r.key, r.t]),
      [
        ['A', 3],
        ['A', 4],
        ['B', 3],
      ],
    );
  });

  test('route key from two columns; last breaks ties by source order; min/max over panes', () => {
    const routes = source({
      ts: [at(0), at(0.25), at(0.25), at(1.5), at(1.75)],
      origin: ['ATL', 'ATL', 'ATL', 'JFK', 'ATL'],
      dest: ['JFK', 'JFK', 'JFK', 'ATL', 'JFK'],
      delay: [5, 9, 3, 100, -2],
    });
    const view = windowView(
      [
        { name: 'latest', fn: 'last', column: 'delay' },
        { name: 'lo', fn: 'min', column: 'delay' },
        { name: 'hi', fn: 'max', column: 'delay' },
      ],
      { route: true, windows: ['1h', '2h'] },
    );
    const frame = run(view, routes, { startMs: at(1), endMs: at(3) }, 2 * H);
    assert.deepEqual(rowsOf(frame), [
      { key: 'ATL-JFK', t: 1, latest_1h: 3, latest_2h: 3, lo_1h: 3, lo_2h: 3, hi_1h: 9, hi_2h: 9 },
      { key: 'ATL-JFK', t: 2, latest_1h: -2, latest_2h: -2, lo_1h: -2, lo_2h: -2, hi_1h: -2, hi_2h: 9 },
      {
        key: 'JFK-ATL',
        t: 2,
        latest_1h: 100,
        latest_2h: 100,
        lo_1h: 100,
        lo_2h: 100,
        hi_1h: 100,
        hi_2h: 100,
      },
    ]);
  });

  test('hop smaller than the windows: panes slide in and out', () => {
    const d = source({
      ts: [at(0), at(0.25), at(0.5), at(0.75)],
      airport: ['A', 'A', 'A', 'A'],
      delay: [1, 2, 3, 4],
    });
    const view = windowView([{ name: 'total', fn: 'sum', column: 'delay' }], {
      hop: '15m',
      windows: ['15m', '30m'],
    });
    const frame = run(view, d, { startMs: at(0.25), endMs: at(1.25) }, 0.5 * H);
    assert.deepEqual(rowsOf(frame), [
      { key: 'A', t: 0.25, total_15m: 1, total_30m: 1 },
      { key: 'A', t: 0.5, total_15m: 2, total_30m: 3 },
      { key: 'A', t: 0.75, total_15m: 3, total_30m: 5 },
      { key: 'A', t: 1, total_15m: 4, total_30m: 7 },
    ]);
  });

  test('empty range or no events give an empty frame with the schema', () => {
    const view = windowView([{ name: 'n', fn: 'count' }]);
    const frame = run(view, data, { startMs: at(10), endMs: at(20) }, 3 * H);
    assert.equal(frame.length, 0);
    assert.deepEqual(Object.keys(frame.columns), ['n_1h', 'n_3h']);
    assert.equal(run(view, data, { startMs: at(3), endMs: at(3) }, 3 * H).length, 0);
  });

  test('a window that is not a multiple of the hop is rejected', () => {
    const view = windowView([{ name: 'n', fn: 'count' }], { hop: '1h', windows: ['90m'] });
    const { input } = prepareRows(view, data, data.select({ startMs: at(0), endMs: at(6) }), 'escaped');
    assert.throws(() => aggregateWindows(view, input, range), /window 90m is not a multiple of hop 1h/);
    const badHop = windowView([{ name: 'n', fn: 'count' }], { hop: 'soon' });
    assert.throws(() => aggregateWindows(badHop, input, range), /invalid duration "soon"/);
  });

  test('input not in time order within an entity is sorted first', () => {
    const input: PreparedRows = {
      length: 3,
      keyCodes: Int32Array.from([0, 0, 0]),
      keys: ['A'],
      eventTs: Float64Array.from([at(0.5), at(0.1), at(0.5)]),
      positions: Uint32Array.from([2, 0, 1]),
      columns: {
        delay: {
          type: 'float64',
          values: Float64Array.from([30, 10, 20]),
          valid: Uint8Array.from([1, 1, 1]),
        },
      },
    };
    const view = windowView([{ name: 'latest', fn: 'last', column: 'delay' }], { windows: ['1h'] });
    const frame = aggregateWindows(view, input, { startMs: at(1), endMs: at(2) });
    assert.deepEqual(
      rowsOf(frame),
      [{ key: 'A', t: 1, latest_1h: 30 }],
      'latest time, then highest position',
    );
  });

  test('matches a naive reference on random data', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 30; round++) {
      const n = 1 + Math.floor(random() * 60);
      const ts = Array.from(
        { length: n },
        () =>
          T0 + Math.floor(random() * 12) * 900_000 + (random() < 0.3 ? 0 : Math.floor(random() * 900_000)),
      );
      const keys = Array.from({ length: n }, () => ['A', 'B', 'C'][Math.floor(random() * 3)]);
      const delay = Array.from({ length: n }, () =>
        random() < 0.2 ? null : Math.round(random() * 40 - 10) + 0,
      ); // + 0: no -0
      const d = source({ ts, airport: keys, delay });
      const windows = ['15m', '45m', '1h'];
      const view = windowView(ALL_AGGS, { hop: '15m', windows });
      const r = { startMs: T0 + Math.floor(random() * 8) * 450_000, endMs: T0 + 3 * H };
      const actual = rowsOf(run(view, d, r, H));
      assert.deepEqual(
        actual,
        naive(
          ALL_AGGS,
          windows.map((w) => parseInt(w) * (w.endsWith('h') ? H : 60_000)),
          windows,
          ts,
          keys,
          delay,
          r,
          900_000,
        ),
      );
    }
  });
});

/** Straightforward per-boundary, per-window scan of all events: the specification, slowly. */
function naive(
  aggs: AggregationSpec[],
  windowMs: number[],
  windowNames: string[],
  ts: number[],
  keys: string[],
  delay: (number | null)[],
  range: TimeRange,
  hop: number,
): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const maxW = Math.max(...windowMs);
  for (const key of [...new Set(keys)].sort()) {
    for (let t = Math.ceil(range.startMs / hop) * hop; t < range.endMs; t += hop) {
      const idx = (w: number) =>
        ts.map((_, i) => i).filter((i) => keys[i] === key && ts[i] >= t - w && ts[i] < t);
      if (idx(maxW).length === 0) continue;
      const row: Record<string, unknown> = { key, t: (t - T0) / H };
      for (const agg of aggs) {
        windowMs.forEach((w, wi) => {
          const events = idx(w).sort((a, b) => ts[a] - ts[b] || a - b);
          const withValue = events.filter((i) => delay[i] !== null);
          const vals = withValue.map((i) => {
            const v = delay[i]!;
            return agg.compare ? (v > agg.compare.value ? 1 : 0) : v;
          });
          const sum = vals.reduce((a, b) => a + b, 0);
          const name = `${agg.name}_${windowNames[wi]}`;
          if (agg.fn === 'count') row[name] = events.length;
          else if (vals.length === 0) row[name] = null;
          else if (agg.fn === 'sum') row[name] = sum;
          else if (agg.fn === 'mean') row[name] = sum / vals.length;
          else if (agg.fn === 'min') row[name] = Math.min(...vals);
          else if (agg.fn === 'max') row[name] = Math.max(...vals);
          else row[name] = vals[vals.length - 1];
        });
      }
      out.push(row);
    }
  }
  return out;
}
