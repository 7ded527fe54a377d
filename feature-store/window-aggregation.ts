/**
 * Hopping-window aggregation (semantics: WindowTransform in types.ts).
 *
 * Columnar algorithm, O(events + output rows x features):
 *  1. group event indices by entity code (counting sort, stable so the input's time order holds);
 *  2. per entity, bucket events into panes of one hop (count, and per value input: non-null count,
 *     sum, min, max, last), keeping only non-empty panes;
 *  3. slide over the panes: windows are whole panes (windows are multiples of the hop and the
 *     boundaries are hop-aligned), so each window is a range of the entity's pane list kept by two
 *     pointers, with running count/sum and monotonic deques for min/max.
 */
import { parseDuration } from './duration.js';
import type { PreparedRows } from './row-preparation.js';
import type { AggregationSpec, Column, CompareOp, FeatureFrame, FeatureViewDefinition, TimeRange } from './types.js';
import { windowFeatureName } from './view-schema.js';

/** Hop and windows in milliseconds; windows also as a number of hops ("spans"). */
export interface WindowConfig {
  hopMs: number;
  windowMs: number[];
  spans: number[];
}

/** Parses and validates a view's window transform; throws if a window is not a positive multiple of the hop. */
export function windowConfig(view: FeatureViewDefinition): WindowConfig {
  const transform = view.transform;
  if (!transform) throw new Error(`feature view "${view.name}" has no window transform`);
  const hopMs = parseDuration(transform.hop);
  if (transform.windows.length === 0) throw new Error(`feature view "${view.name}": a window transform needs windows`);
  const windowMs = transform.windows.map((w) => {
    const ms = parseDuration(w);
    if (ms % hopMs !== 0) {
      throw new Error(`feature view "${view.name}": window ${w} is not a multiple of hop ${transform.hop}`);
    }
    return ms;
  });
  return { hopMs, windowMs, spans: windowMs.map((ms) => ms / hopMs) };
}

/** A distinct (column, compare) pair: aggregations over the same input share pane statistics. */
interface ValueInput {
  column: string;
  compare?: AggregationSpec['compare'];
  /** Events' values in grouped order; NaN = null (inputs are finite, row preparation quarantined the rest). */
  values: Float64Array;
  needMin: boolean;
  needMax: boolean;
}

const FN_COUNT = 0;
const FN_SUM = 1;
const FN_MEAN = 2;
const FN_MIN = 3;
const FN_MAX = 4;
const FN_LAST = 5;
const FN_CODE = { count: FN_COUNT, sum: FN_SUM, mean: FN_MEAN, min: FN_MIN, max: FN_MAX, last: FN_LAST } as const;

/**
 * Aggregates prepared rows (which must include the lookback [range.startMs - largest window,
 * range.startMs)) into one row per entity and hop boundary t in range where the entity has an event
 * in [t - largest window, t). Rows are ordered by entity key, then t.
 */
export function aggregateWindows(view: FeatureViewDefinition, input: PreparedRows, range: TimeRange): FeatureFrame {
  const { hopMs, spans } = windowConfig(view);
  const transform = view.transform!;
  const windows = spans.length;
  let maxW = 0;
  for (let w = 1; w < windows; w++) if (spans[w] > spans[maxW]) maxW = w;
  const maxSpan = spans[maxW];

  // Hop boundaries k*hop in [start, end). Indices are relative to `base`, the first pane that can
  // reach the first boundary's largest window: boundary r covers panes [r - span, r - 1].
  const kFirst = Math.ceil(range.startMs / hopMs);
  const hops = Math.max(0, Math.ceil(range.endMs / hopMs) - kFirst);
  const base = kFirst - maxSpan;
  const rEnd = maxSpan + hops;
  const paneCountLimit = rEnd - 1; // panes q in [0, rEnd - 1) can fall in some window

  // 1. Group by entity (stable counting sort on the integer key codes).
  const n = input.length;
  const entities = input.keys.length;
  const entityStart = new Int32Array(entities + 1);
  for (let i = 0; i < n; i++) entityStart[input.keyCodes[i] + 1]++;
  for (let e = 0; e < entities; e++) entityStart[e + 1] += entityStart[e];
  const order = new Int32Array(n);
  const cursor = entityStart.slice(0, entities);
  for (let i = 0; i < n; i++) order[cursor[input.keyCodes[i]]++] = i;
  for (let e = 0; e < entities; e++) ensureTimeOrder(order, entityStart[e], entityStart[e + 1], input);

  // Pane of each grouped event (-1: outside every window of every boundary) and pane count.
  // Float64Array: with a tiny hop over a long range, pane indices can exceed the int32 range.
  const eventPane = new Float64Array(n);
  let paneTotal = 0;
  for (let e = 0; e < entities; e++) {
    let previous = -1;
    for (let j = entityStart[e]; j < entityStart[e + 1]; j++) {
      const q = paneOf(input.eventTs[order[j]], hopMs) - base;
      const inside = q >= 0 && q < paneCountLimit;
      eventPane[j] = inside ? q : -1;
      if (inside && q !== previous) paneTotal++;
      if (inside) previous = q;
    }
  }

  // Value inputs, with per-event values in grouped order (compare applied: 1/0).
  const inputs: ValueInput[] = [];
  const inputByKey = new Map<string, number>();
  const aggInput = transform.aggregations.map((agg) => {
    if (agg.fn === 'count') return -1; // count counts events, whatever the column holds
    const key = JSON.stringify([agg.column, agg.compare?.op ?? null, agg.compare?.value ?? null]);
    let v = inputByKey.get(key);
    if (v === undefined) {
      const values = eventValues(input, agg, order);
      v = inputs.push({ column: agg.column!, compare: agg.compare, values, needMin: false, needMax: false }) - 1;
      inputByKey.set(key, v);
    }
    if (agg.fn === 'min') inputs[v].needMin = true;
    if (agg.fn === 'max') inputs[v].needMax = true;
    return v;
  });
  const V = inputs.length;

  // 2. Panes: flat arrays over all entities; entity e owns [paneStart[e], paneStart[e + 1]).
  const paneStart = new Int32Array(entities + 1);
  const paneQ = new Float64Array(paneTotal);
  const paneEvents = new Float64Array(paneTotal);
  const pN = inputs.map(() => new Float64Array(paneTotal));
  const pSum = inputs.map(() => new Float64Array(paneTotal));
  const pMin = inputs.map((x) => (x.needMin ? new Float64Array(paneTotal) : null));
  const pMax = inputs.map((x) => (x.needMax ? new Float64Array(paneTotal) : null));
  const pLast = inputs.map(() => new Float64Array(paneTotal));
  let maxEntityPanes = 0;
  let p = -1;
  for (let e = 0; e < entities; e++) {
    paneStart[e] = p + 1;
    let previous = -1;
    for (let j = entityStart[e]; j < entityStart[e + 1]; j++) {
      const q = eventPane[j];
      if (q < 0) continue;
      if (q !== previous) {
        p++;
        paneQ[p] = q;
        previous = q;
        for (let v = 0; v < V; v++) {
          if (pMin[v] !== null) pMin[v]![p] = Infinity;
          if (pMax[v] !== null) pMax[v]![p] = -Infinity;
        }
      }
      paneEvents[p]++;
      for (let v = 0; v < V; v++) {
        const x = inputs[v].values[j];
        if (x !== x) continue; // null
        pN[v][p]++;
        pSum[v][p] += x;
        const mins = pMin[v];
        const maxs = pMax[v];
        if (mins !== null && x < mins[p]) mins[p] = x;
        if (maxs !== null && x > maxs[p]) maxs[p] = x;
        pLast[v][p] = x; // events are in (time, source position) order: the latest wins
      }
    }
    maxEntityPanes = Math.max(maxEntityPanes, p + 1 - paneStart[e]);
  }
  paneStart[entities] = p + 1;

  // Output size: boundaries r in [maxSpan, rEnd) within reach (r in [q + 1, q + maxSpan]) of a pane.
  const sortedEntities = Array.from({ length: entities }, (_, e) => e).sort((a, b) =>
    input.keys[a] < input.keys[b] ? -1 : input.keys[a] > input.keys[b] ? 1 : 0,
  );
  let total = 0;
  for (let e = 0; e < entities; e++) total += emittedRows(paneQ, paneStart[e], paneStart[e + 1], maxSpan, rEnd);

  // 3. Slide. Output columns in aggregation order, then window order.
  const aggs = transform.aggregations;
  const F = aggs.length * windows;
  const outValues = Array.from({ length: F }, () => new Float64Array(total));
  const outValid = Array.from({ length: F }, () => new Uint8Array(total));
  const fnOf = new Int32Array(F);
  const inputOf = new Int32Array(F);
  const windowOf = new Int32Array(F);
  for (let a = 0, f = 0; a < aggs.length; a++) {
    for (let w = 0; w < windows; w++, f++) {
      fnOf[f] = FN_CODE[aggs[a].fn];
      inputOf[f] = aggInput[a];
      windowOf[f] = w;
    }
  }
  const entityKey = new Array<string>(total);
  const eventTs = new Float64Array(total);

  // Running state per window (count) and per (value input, window) slot s = v * windows + w.
  const lo = new Int32Array(windows);
  const count = new Float64Array(windows);
  const slots = V * windows;
  const nonNull = new Float64Array(slots);
  const sum = new Float64Array(slots);
  const compensation = new Float64Array(slots); // Neumaier: sums stay exact-ish as panes enter and leave
  const lastPane = new Int32Array(V);
  const minDeque = Array.from({ length: slots }, (_, s) => (inputs[(s / windows) | 0].needMin ? new Int32Array(maxEntityPanes) : null));
  const maxDeque = Array.from({ length: slots }, (_, s) => (inputs[(s / windows) | 0].needMax ? new Int32Array(maxEntityPanes) : null));
  const minHead = new Int32Array(slots);
  const minTail = new Int32Array(slots);
  const maxHead = new Int32Array(slots);
  const maxTail = new Int32Array(slots);

  let row = 0;
  for (const e of sortedEntities) {
    const first = paneStart[e];
    const end = paneStart[e + 1];
    if (first === end) continue;
    const key = input.keys[e];
    lo.fill(first);
    count.fill(0);
    nonNull.fill(0);
    sum.fill(0);
    compensation.fill(0);
    lastPane.fill(-1);
    minHead.fill(0);
    minTail.fill(0);
    maxHead.fill(0);
    maxTail.fill(0);
    let hi = first;
    let r = Math.max(maxSpan, paneQ[first] + 1);
    while (r < rEnd) {
      // Panes entering: q < r (all windows end at r - 1).
      for (; hi < end && paneQ[hi] < r; hi++) {
        for (let w = 0; w < windows; w++) count[w] += paneEvents[hi];
        for (let v = 0; v < V; v++) {
          const pn = pN[v][hi];
          if (pn === 0) continue;
          lastPane[v] = hi;
          for (let w = 0, s = v * windows; w < windows; w++, s++) {
            nonNull[s] += pn;
            neumaierAdd(sum, compensation, s, pSum[v][hi]);
            const dqMin = minDeque[s];
            if (dqMin !== null) {
              const m = pMin[v]!;
              while (minTail[s] > minHead[s] && m[dqMin[minTail[s] - 1]] >= m[hi]) minTail[s]--;
              dqMin[minTail[s]++] = hi;
            }
            const dqMax = maxDeque[s];
            if (dqMax !== null) {
              const m = pMax[v]!;
              while (maxTail[s] > maxHead[s] && m[dqMax[maxTail[s] - 1]] <= m[hi]) maxTail[s]--;
              dqMax[maxTail[s]++] = hi;
            }
          }
        }
      }
      // Panes leaving window w: q < r - span.
      for (let w = 0; w < windows; w++) {
        const from = r - spans[w];
        for (; lo[w] < hi && paneQ[lo[w]] < from; lo[w]++) {
          const out = lo[w];
          count[w] -= paneEvents[out];
          for (let v = 0; v < V; v++) {
            const pn = pN[v][out];
            if (pn === 0) continue;
            const s = v * windows + w;
            nonNull[s] -= pn;
            if (nonNull[s] === 0) {
              sum[s] = 0; // empty again: drop any rounding residue
              compensation[s] = 0;
            } else {
              neumaierAdd(sum, compensation, s, -pSum[v][out]);
            }
            if (minDeque[s] !== null && minTail[s] > minHead[s] && minDeque[s]![minHead[s]] === out) minHead[s]++;
            if (maxDeque[s] !== null && maxTail[s] > maxHead[s] && maxDeque[s]![maxHead[s]] === out) maxHead[s]++;
          }
        }
      }
      if (lo[maxW] === hi) {
        // Largest (so every) window empty: no row; jump to the next boundary after the next pane.
        if (hi === end) break;
        r = paneQ[hi] + 1;
        continue;
      }
      entityKey[row] = key;
      eventTs[row] = (base + r) * hopMs;
      for (let f = 0; f < F; f++) {
        const w = windowOf[f];
        const fn = fnOf[f];
        if (fn === FN_COUNT) {
          outValues[f][row] = count[w];
          outValid[f][row] = 1;
          continue;
        }
        const v = inputOf[f];
        const s = v * windows + w;
        if (nonNull[s] === 0) continue; // null: no non-null value in the window
        let value: number;
        if (fn === FN_SUM) value = sum[s] + compensation[s];
        else if (fn === FN_MEAN) value = (sum[s] + compensation[s]) / nonNull[s];
        else if (fn === FN_MIN) value = pMin[v]![minDeque[s]![minHead[s]]];
        else if (fn === FN_MAX) value = pMax[v]![maxDeque[s]![maxHead[s]]];
        else value = pLast[v][lastPane[v]]; // latest non-null pane is inside: nonNull > 0
        outValues[f][row] = value;
        outValid[f][row] = 1;
      }
      row++;
      r++;
    }
  }
  if (row !== total) throw new Error(`window aggregation: emitted ${row} rows, expected ${total}`);

  const columns: Record<string, Column> = {};
  for (let a = 0, f = 0; a < aggs.length; a++) {
    for (let w = 0; w < windows; w++, f++) {
      columns[windowFeatureName(aggs[a].name, transform.windows[w])] = {
        type: fnOf[f] === FN_COUNT ? 'int64' : 'float64',
        values: outValues[f],
        valid: outValid[f],
      };
    }
  }
  return { length: total, entityKey, eventTs, columns };
}

/** floor(ts / hop), corrected where floating division rounds across a boundary. */
function paneOf(ts: number, hopMs: number): number {
  let q = Math.floor(ts / hopMs);
  if (q * hopMs > ts) q--;
  else if ((q + 1) * hopMs <= ts) q++;
  return q;
}

function neumaierAdd(sum: Float64Array, compensation: Float64Array, s: number, x: number): void {
  const t = sum[s] + x;
  compensation[s] += Math.abs(sum[s]) >= Math.abs(x) ? sum[s] - t + x : x - t + sum[s];
  sum[s] = t;
}

/** Number of boundaries r in [maxSpan, rEnd) with some pane q in [r - maxSpan, r - 1]. */
function emittedRows(paneQ: Float64Array, first: number, end: number, maxSpan: number, rEnd: number): number {
  let rows = 0;
  let covered = maxSpan; // boundaries below this are counted (or out of range)
  for (let p = first; p < end; p++) {
    const from = Math.max(covered, paneQ[p] + 1);
    const to = Math.min(rEnd, paneQ[p] + maxSpan + 1);
    if (to > from) {
      rows += to - from;
      covered = to;
    }
  }
  return rows;
}

/**
 * Within one entity, events must be in (event time, source position) order so that `last` picks the
 * latest event, ties by source order. Selection already yields that order; sort only if not.
 */
function ensureTimeOrder(order: Int32Array, from: number, to: number, input: PreparedRows): void {
  const ts = input.eventTs;
  const pos = input.positions;
  for (let j = from + 1; j < to; j++) {
    const a = order[j - 1];
    const b = order[j];
    if (ts[b] < ts[a] || (ts[b] === ts[a] && pos[b] < pos[a])) {
      order.subarray(from, to).sort((x, y) => ts[x] - ts[y] || pos[x] - pos[y]);
      return;
    }
  }
}

const COMPARE: Record<CompareOp, (x: number, y: number) => boolean> = {
  '>': (x, y) => x > y,
  '>=': (x, y) => x >= y,
  '<': (x, y) => x < y,
  '<=': (x, y) => x <= y,
  '==': (x, y) => x === y,
  '!=': (x, y) => x !== y,
};

/** The aggregated value of each grouped event: the column (NaN = null), or 1/0 under `compare`. */
function eventValues(input: PreparedRows, agg: AggregationSpec, order: Int32Array): Float64Array {
  const column = input.columns[agg.column!];
  if (!column || !(column.values instanceof Float64Array)) {
    throw new Error(`window aggregation "${agg.name}": column "${agg.column}" was not prepared as float64`);
  }
  const values = column.values;
  const valid = column.valid;
  const out = new Float64Array(order.length);
  const compare = agg.compare ? COMPARE[agg.compare.op] : undefined;
  const threshold = agg.compare?.value ?? 0;
  for (let j = 0; j < order.length; j++) {
    const i = order[j];
    if (valid[i] === 0) out[j] = NaN;
    else out[j] = compare ? (compare(values[i], threshold) ? 1 : 0) : values[i];
  }
  return out;
}
