/**
 * Hopping-window aggregation (semantics: WindowTransform in types.ts).
 *
 * Columnar algorithm, O(events + panes x windows + output rows x features):
 *  1. bucket events into panes of one hop per entity (event count; per value input: non-null count,
 *     sum, min, max, last), in one sequential pass over the time-ordered input, keeping only
 *     non-empty panes, laid out contiguously per entity;
 *  2. slide over each entity's panes: windows are multiples of the hop and boundaries are
 *     hop-aligned, so a window is a whole range of panes, kept by two pointers with running
 *     count/sum and monotonic deques for min/max.
 */
import { parseDuration } from '../definitions/duration.js';
import type { PreparedRows } from './row-preparation.js';
import type {
  AggregationSpec,
  Column,
  CompareOp,
  FeatureFrame,
  FeatureViewDefinition,
  TimeRange,
} from '../definitions/types.js';
import { windowFeatureName } from '../definitions/view-schema.js';

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
  if (transform.windows.length === 0)
    throw new Error(`feature view "${view.name}": a window transform needs windows`);
  const windowMs = transform.windows.map((w) => {
    const ms = parseDuration(w);
    if (ms % hopMs !== 0) {
      throw new Error(`feature view "${view.name}": window ${w} is not a multiple of hop ${transform.hop}`);
    }
    return ms;
  });
  return { hopMs, windowMs, spans: windowMs.map((ms) => ms / hopMs) };
}

/**
 * Aggregates prepared rows (which must include the lookback [range.startMs - largest window,
 * range.startMs)) into one row per entity and hop boundary t in range where the entity has an event
 * in [t - largest window, t). Rows are ordered by entity key, then t.
 */
export function aggregateWindows(
  view: FeatureViewDefinition,
  input: PreparedRows,
  range: TimeRange,
): FeatureFrame {
  const config = windowConfig(view);
  const aggregations = view.transform!.aggregations;
  const grid = hopGrid(config, range);
  const { inputs, inputOf } = valueInputs(aggregations, input);
  const panes = buildPanes(input, inputs, config.hopMs, grid);

  const keys = input.keys;
  const entityOrder = Array.from(keys.keys()).sort((a, b) =>
    keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0,
  );
  let total = 0;
  for (let e = 0; e < keys.length; e++) total += emittedRows(panes, e, grid);

  const output = new Output(aggregations, inputOf, config.spans.length, total);
  const slider = new Slider(panes, config.spans, output);
  for (const e of entityOrder) slider.run(e, keys[e], grid, config.hopMs);
  if (slider.row !== total)
    throw new Error(`window aggregation: emitted ${slider.row} rows, expected ${total}`);
  return output.frame(view.transform!.windows);
}

/**
 * Boundary and pane indices are relative to `base`, the first pane any in-range boundary can see.
 * Boundary r (time (base + r) * hop) covers panes [r - span, r - 1] of a window of `span` hops.
 */
interface HopGrid {
  base: number;
  /** In-range boundaries are r in [maxSpan, rEnd). */
  maxSpan: number;
  rEnd: number;
  /** Index of the largest window (a row is emitted iff it is non-empty). */
  maxWindow: number;
}

function hopGrid(config: WindowConfig, range: TimeRange): HopGrid {
  let maxWindow = 0;
  config.spans.forEach((span, w) => {
    if (span > config.spans[maxWindow]) maxWindow = w;
  });
  const maxSpan = config.spans[maxWindow];
  const kFirst = Math.ceil(range.startMs / config.hopMs);
  const hops = Math.max(0, Math.ceil(range.endMs / config.hopMs) - kFirst);
  return { base: kFirst - maxSpan, maxSpan, rEnd: maxSpan + hops, maxWindow };
}

// ---------------------------------------------------------------------------------------------
// Value inputs

/** A distinct (column, compare) pair: aggregations over the same input share pane statistics. */
interface ValueInput {
  /** Per input row; NaN = null (safe: row preparation quarantined non-finite values). */
  values: Float64Array;
  needMin: boolean;
  needMax: boolean;
}

const COMPARE: Record<CompareOp, (x: number, y: number) => boolean> = {
  '>': (x, y) => x > y,
  '>=': (x, y) => x >= y,
  '<': (x, y) => x < y,
  '<=': (x, y) => x <= y,
  '==': (x, y) => x === y,
  '!=': (x, y) => x !== y,
};

/** Value inputs and, per aggregation, its input index (-1 for count, which counts events). */
function valueInputs(aggregations: AggregationSpec[], input: PreparedRows) {
  const inputs: ValueInput[] = [];
  const byKey = new Map<string, number>();
  const inputOf = aggregations.map((agg) => {
    if (agg.fn === 'count') return -1;
    const key = JSON.stringify([agg.column, agg.compare?.op ?? null, agg.compare?.value ?? null]);
    let v = byKey.get(key);
    if (v === undefined) {
      v = inputs.push({ values: eventValues(input, agg), needMin: false, needMax: false }) - 1;
      byKey.set(key, v);
    }
    if (agg.fn === 'min') inputs[v].needMin = true;
    if (agg.fn === 'max') inputs[v].needMax = true;
    return v;
  });
  return { inputs, inputOf };
}

/** The aggregated value of each row: the column (NaN = null), or 1/0 under `compare`. */
function eventValues(input: PreparedRows, agg: AggregationSpec): Float64Array {
  const column = input.columns[agg.column!];
  if (!column || !(column.values instanceof Float64Array)) {
    throw new Error(`window aggregation "${agg.name}": column "${agg.column}" was not prepared as float64`);
  }
  const { values, valid } = column;
  const out = new Float64Array(input.length);
  const compare = agg.compare ? COMPARE[agg.compare.op] : undefined;
  const threshold = agg.compare?.value ?? 0;
  for (let i = 0; i < out.length; i++) {
    if (valid[i] === 0) out[i] = NaN;
    else out[i] = compare === undefined ? values[i] : compare(values[i], threshold) ? 1 : 0;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Panes

/** Non-empty panes, flat over all entities: entity e owns [start[e], start[e + 1]), ascending q. */
interface Panes {
  start: Int32Array;
  /** Pane index relative to the grid base. Float64: a tiny hop over a long range can pass 2^31. */
  q: Float64Array;
  events: Float64Array;
  /** Per value input: non-null count, sum, min, max (when needed) and latest value. */
  n: Float64Array[];
  sum: Float64Array[];
  min: (Float64Array | null)[];
  max: (Float64Array | null)[];
  last: Float64Array[];
  maxPerEntity: number;
}

function buildPanes(input: PreparedRows, inputs: ValueInput[], hopMs: number, grid: HopGrid): Panes {
  const entities = input.keys.length;
  const { keyCodes, eventTs } = input;
  const order = timeOrder(input);
  const limit = grid.rEnd - 1; // panes q >= rEnd - 1 are after the last boundary's windows
  const n = input.length;

  // Pass 1: pane of each event (-1: outside every window) and panes per entity. In time order an
  // entity's events arrive pane by pane: a new pane starts when the index differs from its current one.
  const paneOfEvent = new Float64Array(n);
  const current = new Float64Array(entities).fill(-1);
  const start = new Int32Array(entities + 1);
  for (let k = 0; k < n; k++) {
    const i = order === null ? k : order[k];
    const q = paneOf(eventTs[i], hopMs) - grid.base;
    if (q < 0 || q >= limit) {
      paneOfEvent[k] = -1;
      continue;
    }
    paneOfEvent[k] = q;
    const e = keyCodes[i];
    if (q !== current[e]) {
      current[e] = q;
      start[e + 1]++;
    }
  }
  let maxPerEntity = 0;
  for (let e = 0; e < entities; e++) {
    maxPerEntity = Math.max(maxPerEntity, start[e + 1]);
    start[e + 1] += start[e];
  }

  // Pass 2: the pane slot of each event, pane indices and event counts. Sequential over the input;
  // only each entity's current pane is written, so the working set stays small.
  const total = start[entities];
  const paneQ = new Float64Array(total);
  const events = new Float64Array(total);
  const slotOfEvent = new Int32Array(n);
  const slot = new Int32Array(entities);
  for (let e = 0; e < entities; e++) slot[e] = start[e] - 1;
  current.fill(-1);
  for (let k = 0; k < n; k++) {
    const q = paneOfEvent[k];
    if (q < 0) {
      slotOfEvent[k] = -1;
      continue;
    }
    const e = keyCodes[order === null ? k : order[k]];
    if (q !== current[e]) {
      current[e] = q;
      paneQ[++slot[e]] = q;
    }
    slotOfEvent[k] = slot[e];
    events[slot[e]]++;
  }

  // Pass 3: statistics, one tight loop per value input.
  const panes: Panes = { start, q: paneQ, events, n: [], sum: [], min: [], max: [], last: [], maxPerEntity };
  for (const input of inputs) {
    const count = new Float64Array(total);
    const sum = new Float64Array(total);
    const last = new Float64Array(total);
    const min = input.needMin ? new Float64Array(total).fill(Infinity) : null;
    const max = input.needMax ? new Float64Array(total).fill(-Infinity) : null;
    const values = input.values;
    for (let k = 0; k < n; k++) {
      const p = slotOfEvent[k];
      if (p < 0) continue;
      const x = values[order === null ? k : order[k]];
      if (x !== x) continue; // NaN: null
      count[p]++;
      sum[p] += x;
      if (min !== null && x < min[p]) min[p] = x;
      if (max !== null && x > max[p]) max[p] = x;
      last[p] = x; // (time, source position) order: the latest event wins
    }
    panes.n.push(count);
    panes.sum.push(sum);
    panes.min.push(min);
    panes.max.push(max);
    panes.last.push(last);
  }
  return panes;
}

/** floor(ts / hop), corrected where floating division rounds across a boundary. */
function paneOf(ts: number, hopMs: number): number {
  let q = Math.floor(ts / hopMs);
  if (q * hopMs > ts) q--;
  else if ((q + 1) * hopMs <= ts) q++;
  return q;
}

/**
 * Panes and `last` need events in (event time, source position) order. Selection already yields
 * that order (null: use the input as is); otherwise sort a permutation.
 */
function timeOrder(input: PreparedRows): Int32Array | null {
  const { eventTs: ts, positions: pos } = input;
  for (let i = 1; i < input.length; i++) {
    if (ts[i] < ts[i - 1] || (ts[i] === ts[i - 1] && pos[i] < pos[i - 1])) {
      return Int32Array.from(ts.keys()).sort((x, y) => ts[x] - ts[y] || pos[x] - pos[y]);
    }
  }
  return null;
}

/** Number of boundaries r in [maxSpan, rEnd) with some pane of entity e in [r - maxSpan, r - 1]. */
function emittedRows(panes: Panes, e: number, grid: HopGrid): number {
  let rows = 0;
  let covered = grid.maxSpan; // boundaries below this are counted (or before the range)
  for (let p = panes.start[e]; p < panes.start[e + 1]; p++) {
    const from = Math.max(covered, panes.q[p] + 1);
    const to = Math.min(grid.rEnd, panes.q[p] + grid.maxSpan + 1);
    if (to > from) {
      rows += to - from;
      covered = to;
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Sliding windows and output

const FN_COUNT = 0;
const FN_SUM = 1;
const FN_MEAN = 2;
const FN_MIN = 3;
const FN_MAX = 4;
const FN_LAST = 5;
const FN_CODE = {
  count: FN_COUNT,
  sum: FN_SUM,
  mean: FN_MEAN,
  min: FN_MIN,
  max: FN_MAX,
  last: FN_LAST,
} as const;

/** Output columns, one per (aggregation, window) in that order, preallocated to the exact row count. */
class Output {
  readonly entityKey: string[];
  readonly eventTs: Float64Array;
  readonly values: Float64Array[] = [];
  readonly valid: Uint8Array[] = [];
  /** Per output feature: function code, value input, window. */
  readonly fn: Int32Array;
  readonly input: Int32Array;
  readonly window: Int32Array;

  constructor(
    readonly aggregations: AggregationSpec[],
    inputOf: number[],
    readonly windows: number,
    readonly length: number,
  ) {
    const features = aggregations.length * windows;
    this.entityKey = new Array<string>(length);
    this.eventTs = new Float64Array(length);
    this.fn = new Int32Array(features);
    this.input = new Int32Array(features);
    this.window = new Int32Array(features);
    for (let f = 0; f < features; f++) {
      const a = Math.floor(f / windows);
      this.fn[f] = FN_CODE[aggregations[a].fn];
      this.input[f] = inputOf[a];
      this.window[f] = f % windows;
      this.values.push(new Float64Array(length));
      // Counts are never null; other aggregates start null and are set when their window has a value.
      this.valid.push(this.fn[f] === FN_COUNT ? new Uint8Array(length).fill(1) : new Uint8Array(length));
    }
  }

  frame(windowNames: string[]): FeatureFrame {
    const columns: Record<string, Column> = {};
    this.values.forEach((values, f) => {
      const name = windowFeatureName(
        this.aggregations[Math.floor(f / this.windows)].name,
        windowNames[f % this.windows],
      );
      columns[name] = { type: this.fn[f] === FN_COUNT ? 'int64' : 'float64', values, valid: this.valid[f] };
    });
    return { length: this.length, entityKey: this.entityKey, eventTs: this.eventTs, columns };
  }
}

/**
 * Running window state of one entity at a time. Per window w: the pane range [lo[w], hi) and the
 * event count; per slot s = v * windows + w (value input v): non-null count, Neumaier-compensated
 * sum (so a sum that slides for months stays as exact as a fresh one), and monotonic deques of pane
 * indices for min/max.
 */
class Slider {
  row = 0;
  private readonly windows: number;
  private readonly inputs: number;
  private readonly lo: Int32Array;
  private readonly count: Float64Array;
  private readonly nonNull: Float64Array;
  private readonly sum: Float64Array;
  private readonly compensation: Float64Array;
  private readonly lastPane: Int32Array;
  private readonly minDeque: (Int32Array | null)[];
  private readonly maxDeque: (Int32Array | null)[];
  private readonly minHead: Int32Array;
  private readonly minTail: Int32Array;
  private readonly maxHead: Int32Array;
  private readonly maxTail: Int32Array;

  constructor(
    private readonly panes: Panes,
    private readonly spans: number[],
    private readonly out: Output,
  ) {
    this.windows = spans.length;
    this.inputs = panes.n.length;
    const slots = this.inputs * this.windows;
    this.lo = new Int32Array(this.windows);
    this.count = new Float64Array(this.windows);
    this.nonNull = new Float64Array(slots);
    this.sum = new Float64Array(slots);
    this.compensation = new Float64Array(slots);
    this.lastPane = new Int32Array(this.inputs);
    const deque = (needed: boolean) => (needed ? new Int32Array(panes.maxPerEntity) : null);
    this.minDeque = Array.from({ length: slots }, (_, s) =>
      deque(panes.min[Math.floor(s / this.windows)] !== null),
    );
    this.maxDeque = Array.from({ length: slots }, (_, s) =>
      deque(panes.max[Math.floor(s / this.windows)] !== null),
    );
    this.minHead = new Int32Array(slots);
    this.minTail = new Int32Array(slots);
    this.maxHead = new Int32Array(slots);
    this.maxTail = new Int32Array(slots);
  }

  /** Emits entity e's rows, in boundary order. */
  run(e: number, key: string, grid: HopGrid, hopMs: number): void {
    const { panes, lo } = this;
    const first = panes.start[e];
    const end = panes.start[e + 1];
    if (first === end) return;
    this.reset(first);
    let hi = first;
    let r = Math.max(grid.maxSpan, panes.q[first] + 1);
    while (r < grid.rEnd) {
      for (; hi < end && panes.q[hi] < r; hi++) this.enter(hi); // every window ends at pane r - 1
      for (let w = 0; w < this.windows; w++) {
        const from = r - this.spans[w];
        for (; lo[w] < hi && panes.q[lo[w]] < from; lo[w]++) this.leave(w, lo[w]);
      }
      if (lo[grid.maxWindow] === hi) {
        // The largest (so every) window is empty: no row; jump to the boundary after the next pane.
        if (hi === end) return;
        r = panes.q[hi] + 1;
        continue;
      }
      this.emit(key, (grid.base + r) * hopMs);
      r++;
    }
  }

  private reset(first: number): void {
    this.lo.fill(first);
    this.count.fill(0);
    this.nonNull.fill(0);
    this.sum.fill(0);
    this.compensation.fill(0);
    this.lastPane.fill(-1);
    this.minHead.fill(0);
    this.minTail.fill(0);
    this.maxHead.fill(0);
    this.maxTail.fill(0);
  }

  private enter(p: number): void {
    const { panes, windows } = this;
    for (let w = 0; w < windows; w++) this.count[w] += panes.events[p];
    for (let v = 0; v < this.inputs; v++) {
      const n = panes.n[v][p];
      if (n === 0) continue;
      this.lastPane[v] = p;
      const sum = panes.sum[v][p];
      for (let s = v * windows; s < (v + 1) * windows; s++) {
        this.nonNull[s] += n;
        this.addToSum(s, sum);
        const minDeque = this.minDeque[s];
        if (minDeque !== null) {
          const min = panes.min[v]!;
          let tail = this.minTail[s];
          while (tail > this.minHead[s] && min[minDeque[tail - 1]] >= min[p]) tail--;
          minDeque[tail] = p;
          this.minTail[s] = tail + 1;
        }
        const maxDeque = this.maxDeque[s];
        if (maxDeque !== null) {
          const max = panes.max[v]!;
          let tail = this.maxTail[s];
          while (tail > this.maxHead[s] && max[maxDeque[tail - 1]] <= max[p]) tail--;
          maxDeque[tail] = p;
          this.maxTail[s] = tail + 1;
        }
      }
    }
  }

  private leave(w: number, p: number): void {
    const panes = this.panes;
    this.count[w] -= panes.events[p];
    for (let v = 0; v < this.inputs; v++) {
      const n = panes.n[v][p];
      if (n === 0) continue;
      const s = v * this.windows + w;
      this.nonNull[s] -= n;
      if (this.nonNull[s] === 0) {
        this.sum[s] = 0; // empty again: drop any rounding residue
        this.compensation[s] = 0;
      } else {
        this.addToSum(s, -panes.sum[v][p]);
      }
      // Panes leave in index order, so a pane still in a deque is at its head.
      if (this.minDeque[s]?.[this.minHead[s]] === p && this.minHead[s] < this.minTail[s]) this.minHead[s]++;
      if (this.maxDeque[s]?.[this.maxHead[s]] === p && this.maxHead[s] < this.maxTail[s]) this.maxHead[s]++;
    }
  }

  private addToSum(s: number, x: number): void {
    const sum = this.sum[s];
    const t = sum + x;
    this.compensation[s] += Math.abs(sum) >= Math.abs(x) ? sum - t + x : x - t + sum;
    this.sum[s] = t;
  }

  private emit(key: string, ts: number): void {
    const { out, panes, row, windows, count, nonNull } = this;
    out.entityKey[row] = key;
    out.eventTs[row] = ts;
    for (let f = 0; f < out.fn.length; f++) {
      const w = out.window[f];
      const fn = out.fn[f];
      if (fn === FN_COUNT) {
        out.values[f][row] = count[w];
        continue;
      }
      const v = out.input[f];
      const s = v * windows + w;
      const n = nonNull[s];
      if (n === 0) continue; // no non-null value in the window: null
      let value: number;
      switch (fn) {
        case FN_SUM:
          value = this.sum[s] + this.compensation[s];
          break;
        case FN_MEAN:
          value = (this.sum[s] + this.compensation[s]) / n;
          break;
        case FN_MIN:
          value = panes.min[v]![this.minDeque[s]![this.minHead[s]]];
          break;
        case FN_MAX:
          value = panes.max[v]![this.maxDeque[s]![this.maxHead[s]]];
          break;
        default:
          value = panes.last[v][this.lastPane[v]]; // the latest non-null pane is in the window
      }
      out.values[f][row] = value;
      out.valid[f][row] = 1;
    }
    this.row = row + 1;
  }
}
