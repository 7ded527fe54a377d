/**
 * The monitor's verdicts on real flights (March 2001, npm vega-datasets), the analysis and alert
 * policy exactly as the monitor workflow runs them, over windows built in memory:
 * - no false alarms: with rows shuffled across windows (no drift), the default policy alerts on at
 *   most 1% of windows;
 * - sudden drift (a feature shifted by 0.5 std on 30% of rows) is flagged in the first window it
 *   starts and typed sudden; so are labels flipped for one airport group (that slice's AUC);
 * - gradual drift (the shift growing window by window) within 3 windows, typed gradual;
 * - recurring drift: a window like an older version's training data is typed recurring.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { openSource, type Column } from '../feature-store/index.js';
import { mulberry32, shuffle } from '../models/prng.js';
import {
  alertsToRaise,
  historyKey,
  windowVerdicts,
  type VerdictHistory,
  type WindowVerdict,
} from '../monitoring/alerts.js';
import { defaultPolicy, parseMonitorPolicy, type MonitorPolicy } from '../monitoring/policy.js';
import {
  categoricalProfile,
  numericProfile,
  scoreProfile,
  sliceReferences,
  type ModelProfile,
} from '../monitoring/profile.js';
import { analyzeWindow } from '../monitoring/window-analysis.js';
import type { TextColumn, VersionRows } from '../monitoring/window-reader.js';
import { FLIGHTS_PARQUET } from './support/flights-sample.js';

const MARCH = { startMs: Date.UTC(2001, 2, 1), endMs: Date.UTC(2001, 3, 1) };
const INPUTS = ['hour', 'weekday', 'distance', 'origin'];
const HUBS = ['ORD', 'MDW', 'ATL', 'DFW'];
const HOUR_MS = 3_600_000;

/** Columns of a set of flights: model inputs, the label, the prediction's airport. */
interface Flights {
  rows: number;
  hour: Float64Array;
  weekday: Float64Array;
  distance: Float64Array;
  origin: string[];
  label: Uint8Array;
}

/** A fixed model of the delay odds: later departures and Fridays are delayed more often. */
function score(f: Flights, i: number): number {
  const z = -1.9 + 0.09 * (f.hour[i] - 13) + (f.weekday[i] === 5 ? 0.35 : 0) + 0.0001 * (f.distance[i] - 800);
  return 1 / (1 + Math.exp(-z));
}

function subset(f: Flights, rows: ArrayLike<number>): Flights {
  const pick = (a: Float64Array) => Float64Array.from(rows, (r) => a[r]);
  return {
    rows: rows.length,
    hour: pick(f.hour),
    weekday: pick(f.weekday),
    distance: pick(f.distance),
    origin: Array.from(rows, (r) => f.origin[r]),
    label: Uint8Array.from(rows, (r) => f.label[r]),
  };
}

function textColumn(values: string[]): TextColumn {
  const byText = new Map<string, number>();
  const dictionary: string[] = [];
  const codes = Int32Array.from(values, (v) => {
    let code = byText.get(v);
    if (code === undefined) byText.set(v, (code = dictionary.push(v) - 1));
    return code;
  });
  return { codes, dictionary };
}

const numericColumn = (values: Float64Array): Column => ({
  type: 'float64',
  values,
  valid: new Uint8Array(values.length).fill(1),
});

/** A monitor window of these flights, as the prediction-log reader hands it over. */
function windowRows(f: Flights, window: number, version = 1): VersionRows {
  const origin = textColumn(f.origin);
  return {
    version,
    rows: f.rows,
    eventTs: new Float64Array(f.rows).fill(window * HOUR_MS),
    scores: Float64Array.from({ length: f.rows }, (_, i) => score(f, i)),
    labels: Float64Array.from(f.label),
    inputs: [f.hour, f.weekday, f.distance, new Float64Array(f.rows).fill(NaN)],
    texts: { 'features.origin': origin, 'entities.airport': origin },
  };
}

/** The profile training would store: the reference flights' inputs, scores, calibration, slices. */
function profileOf(f: Flights, policy: MonitorPolicy): ModelProfile {
  const scores = Float64Array.from({ length: f.rows }, (_, i) => score(f, i));
  const profile: ModelProfile = {
    format: 2,
    rows: f.rows,
    features: {
      hour: numericProfile(f.hour),
      weekday: numericProfile(f.weekday),
      distance: numericProfile(f.distance),
      origin: categoricalProfile(f.origin),
    },
    score: scoreProfile(scores, f.label),
  };
  Object.assign(
    profile.score,
    sliceReferences(
      policy.slices,
      {
        rows: f.rows,
        columns: {
          hour: numericColumn(f.hour),
          weekday: numericColumn(f.weekday),
          distance: numericColumn(f.distance),
          origin: { type: 'string', values: f.origin, valid: new Uint8Array(f.rows).fill(1) },
          ts: numericColumn(new Float64Array(f.rows)),
        },
        inputColumns: INPUTS,
        tsColumn: 'ts',
        entities: [{ entity: 'airport', columns: ['origin'] }],
      },
      scores,
      f.label,
      profile.score.calibration,
    ),
  );
  return profile;
}

/**
 * Runs windows in order like the monitor does: each window's verdicts are typed against the history
 * of the windows before it, then raise alerts under the policy (cooldowns over the same history).
 */
function monitorSequence(
  windows: Flights[],
  profile: ModelProfile,
  policy: MonitorPolicy,
  others: Array<{ version: number; profile: ModelProfile }> = [],
): Array<{ verdicts: WindowVerdict[]; alerts: ReturnType<typeof alertsToRaise> }> {
  const history: VerdictHistory = new Map();
  const lastAlert = new Map<string, number>();
  return windows.map((flights, w) => {
    const window = { startMs: w * HOUR_MS, endMs: (w + 1) * HOUR_MS };
    const analysis = analyzeWindow({
      rows: windowRows(flights, w),
      inputColumns: INPUTS,
      profile,
      policy,
      others,
    });
    const verdicts = windowVerdicts(analysis, history);
    const alerts = alertsToRaise(verdicts, history, policy, window, (kind, subject) =>
      lastAlert.get(historyKey(kind, subject)),
    );
    for (const a of alerts) lastAlert.set(historyKey(a.kind, a.subject), window.endMs);
    for (const v of verdicts) {
      const key = historyKey(v.kind, v.subject);
      history.set(key, [
        {
          windowStartMs: window.startMs,
          windowEndMs: window.endMs,
          value: v.value,
          strength: v.strength,
          type: v.type,
        },
        ...(history.get(key) ?? []),
      ]);
    }
    return { verdicts, alerts };
  });
}

const verdictOf = (verdicts: WindowVerdict[], kind: string, subject: string) =>
  verdicts.find((v) => v.kind === kind && v.subject === subject)!;

describe('the monitor on real flights: false alarms, detection and drift types', () => {
  let reference: Flights;
  let live: Flights;
  let policy: MonitorPolicy;
  let profile: ModelProfile;

  before(async () => {
    const data = await openSource(
      { kind: 'parquet', path: FLIGHTS_PARQUET, timestampField: 'date' },
      { dataRoot: '/' },
    );
    const rows = data.select(MARCH);
    const delay = data.column('delay');
    const distance = data.column('distance');
    const origin = data.column('origin');
    assert.ok(delay.kind === 'number' && distance.kind === 'number' && origin.kind === 'string');
    const all: Flights = {
      rows: rows.length,
      hour: Float64Array.from(rows, (p) => Math.floor(data.eventTs[p] / HOUR_MS) % 24),
      weekday: Float64Array.from(rows, (p) => (Math.floor(data.eventTs[p] / (24 * HOUR_MS)) + 4) % 7),
      distance: Float64Array.from(rows, (p) => distance.values[p]),
      origin: Array.from(rows, (p) => origin.dictionary[origin.codes[p]]),
      label: Uint8Array.from(rows, (p) => (delay.values[p] > 15 ? 1 : 0)),
    };
    // No drift by construction: March's flights shuffled, half the reference, half live traffic.
    const order = Int32Array.from({ length: all.rows }, (_, i) => i);
    shuffle(order, mulberry32(2001));
    const half = Math.floor(all.rows / 2);
    reference = subset(all, order.subarray(0, half));
    live = subset(all, order.subarray(half));
    policy = parseMonitorPolicy({
      model: 'flights',
      slices: [
        { name: 'time_of_day', input: 'hour', edges: [6, 12, 18] },
        { name: 'hub', field: 'airport', groups: { hubs: HUBS } },
      ],
    });
    profile = profileOf(reference, policy);
    assert.ok(reference.rows > 200_000, `${reference.rows} reference flights`);
  });

  /** `count` consecutive windows of `size` live flights from `from`. */
  const windowsOf = (size: number, count: number, from = 0) =>
    Array.from({ length: count }, (_, w) =>
      subset(
        live,
        Uint32Array.from({ length: size }, (_, i) => from + w * size + i),
      ),
    );

  test('no drift (shuffled days): the default policy alerts on at most 1% of windows', () => {
    const windows = windowsOf(2_500, 100);
    const runs = monitorSequence(
      windows,
      profile,
      parseMonitorPolicy({ ...defaultPolicy('flights'), slices: policy.slices }),
    );
    const alerting = runs.filter((r) => r.alerts.length > 0);
    assert.ok(
      alerting.length <= 1,
      `${alerting.length} of 100 windows alerted: ${alerting.flatMap((r) => r.alerts.map((a) => a.message)).join(' | ')}`,
    );
    // Not vacuous: every window had verdicts on every input, the score and its performance.
    for (const { verdicts } of runs) {
      for (const subject of INPUTS)
        assert.notEqual(verdictOf(verdicts, 'data_drift', subject).value, null, subject);
      assert.notEqual(verdictOf(verdicts, 'prediction_drift', 'score').value, null);
      assert.notEqual(verdictOf(verdicts, 'performance', '').value, null);
    }
  });

  test("a lucky validation week of a slice (AUC high, few rows) raises no alert: estimates face the estimate, drops both samples' error", () => {
    const byAirport = parseMonitorPolicy({
      model: 'flights',
      slices: [{ name: 'origin', field: 'airport', groups: { hubs: HUBS } }],
    });
    const airportProfile = profileOf(reference, byAirport);
    const hubs = airportProfile.score.slices!['origin=hubs'];
    assert.ok(Number.isFinite(hubs.estimatedAuc), 'the reference carries the estimate on validation');
    // The hubs' validation week scored 0.15 above what the model does there, on a sample small enough
    // that its AUC is that uncertain (standard error 0.06).
    const lucky = structuredClone(airportProfile);
    lucky.score.slices!['origin=hubs'] = { ...hubs, auc: hubs.auc + 0.15, aucStandardError: 0.06 };
    const runs = monitorSequence(windowsOf(10_000, 10), lucky, byAirport);
    for (const { verdicts } of runs) {
      const realized = verdictOf(verdicts, 'performance', 'origin=hubs');
      const estimated = verdictOf(verdicts, 'estimated_performance', 'origin=hubs');
      assert.equal(estimated.value, 0, estimated.message);
      assert.equal(realized.value, 0, realized.message);
      // Not vacuous: the drop is past the policy's, and significant against the window's error alone.
      const { auc, aucStandardError } = realized.figures as { auc: number; aucStandardError: number };
      const drop = hubs.auc + 0.15 - auc;
      assert.ok(drop > byAirport.performance.maxSliceAucDrop, `drop ${drop}`);
      assert.ok(drop / aucStandardError > byAirport.performance.minZ, realized.message);
    }
    // A validation estimate that could not be made (stored as null) gives estimates no verdict; a
    // profile from before estimates were kept holds them against the realized AUC.
    const unestimated = structuredClone(airportProfile);
    unestimated.score.slices!['origin=hubs'] = { ...hubs, estimatedAuc: null as unknown as number };
    const older = structuredClone(airportProfile);
    delete older.score.slices!['origin=hubs'].estimatedAuc;
    const [none] = monitorSequence(windowsOf(10_000, 1), unestimated, byAirport);
    const [old] = monitorSequence(windowsOf(10_000, 1), older, byAirport);
    assert.equal(verdictOf(none.verdicts, 'estimated_performance', 'origin=hubs').value, null);
    assert.match(
      verdictOf(old.verdicts, 'estimated_performance', 'origin=hubs').message,
      /vs 0\.\d+ estimated/,
    );
    assert.notEqual(verdictOf(old.verdicts, 'estimated_performance', 'origin=hubs').value, null);
  });

  test('sudden drift: a feature shifted by 0.5 std on 30% of rows is flagged in the first window, typed sudden', () => {
    const windows = windowsOf(10_000, 8);
    const std = profile.features.distance.kind === 'numeric' ? profile.features.distance.std : NaN;
    const random = mulberry32(7);
    for (const w of windows.slice(4))
      for (let i = 0; i < w.rows; i++) if (random() < 0.3) w.distance[i] += 0.5 * std;
    const runs = monitorSequence(windows, profile, policy);
    runs
      .slice(0, 4)
      .forEach((r, w) =>
        assert.equal(verdictOf(r.verdicts, 'data_drift', 'distance').value, 0, `window ${w}`),
      );
    const first = runs[4].alerts.find((a) => a.kind === 'data_drift' && a.subject === 'distance');
    assert.ok(
      first,
      `no alert in the first drifted window: ${runs[4].alerts.map((a) => a.message).join(' | ')}`,
    );
    assert.equal(first.driftType, 'sudden');
    for (const r of runs.slice(5))
      assert.equal(verdictOf(r.verdicts, 'data_drift', 'distance').type, 'sudden');
    // The other inputs did not move.
    for (const r of runs)
      for (const subject of ['hour', 'weekday', 'origin'])
        assert.equal(verdictOf(r.verdicts, 'data_drift', subject).value, 0);
  });

  test('labels flipped for one airport group: that slice degrades in the first window, typed sudden', () => {
    const windows = windowsOf(10_000, 6, 80_000);
    for (const w of windows.slice(3))
      for (let i = 0; i < w.rows; i++) if (HUBS.includes(w.origin[i])) w.label[i] = 1 - w.label[i];
    const runs = monitorSequence(windows, profile, policy);
    const subject = 'hub=hubs';
    runs
      .slice(0, 3)
      .forEach((r, w) => assert.equal(verdictOf(r.verdicts, 'performance', subject).value, 0, `window ${w}`));
    const alert = runs[3].alerts.find((a) => a.kind === 'performance' && a.subject === subject);
    assert.ok(alert, runs[3].alerts.map((a) => a.message).join(' | '));
    assert.equal(alert.driftType, 'sudden');
    // The rest of the traffic is judged as before.
    assert.equal(verdictOf(runs[3].verdicts, 'performance', 'hub=other').value, 0);
    // Inputs did not change: only labels did (concept drift), so the estimate before labels cannot see it.
    assert.equal(verdictOf(runs[3].verdicts, 'data_drift', 'distance').value, 0);
  });

  test('gradual drift: a shift that grows window by window is flagged within 3 windows, typed gradual', () => {
    const windows = windowsOf(10_000, 9, 140_000);
    const std = profile.features.distance.kind === 'numeric' ? profile.features.distance.std : NaN;
    const random = mulberry32(11);
    // From window 4 on, 30% of rows move by 0.15 std more each window.
    windows.slice(4).forEach((w, k) => {
      for (let i = 0; i < w.rows; i++) if (random() < 0.3) w.distance[i] += 0.15 * (k + 1) * std;
    });
    const runs = monitorSequence(windows, profile, policy);
    const flagged = runs.findIndex((r) =>
      r.alerts.some((a) => a.kind === 'data_drift' && a.subject === 'distance'),
    );
    assert.ok(flagged >= 4 && flagged <= 6, `first flagged in window ${flagged} (drift starts in window 4)`);
    const alert = runs[flagged].alerts.find((a) => a.kind === 'data_drift' && a.subject === 'distance')!;
    assert.equal(alert.driftType, 'gradual', alert.message);
  });

  test('recurring drift: a window like an older version’s training data is typed recurring', () => {
    // An older world: every flight 0.6 std longer. The old version was trained on it, the current one not.
    const std = profile.features.distance.kind === 'numeric' ? profile.features.distance.std : NaN;
    const shifted = (f: Flights) => ({ ...f, distance: f.distance.map((d) => d + 0.6 * std) });
    const older = profileOf(shifted(reference), policy);
    const windows = windowsOf(10_000, 4, 200_000).map((w, k) => (k >= 2 ? shifted(w) : w));
    const runs = monitorSequence(windows, profile, policy, [{ version: 1, profile: older }]);
    assert.equal(verdictOf(runs[1].verdicts, 'data_drift', 'distance').value, 0);
    const alert = runs[2].alerts.find((a) => a.kind === 'data_drift' && a.subject === 'distance');
    assert.ok(alert, runs[2].alerts.map((a) => a.message).join(' | '));
    assert.equal(alert.driftType, 'recurring');
    assert.deepEqual((alert.figures.closerTo as { version: number }).version, 1);
    assert.match(alert.message, /closer to v1's training data/);
  });

  test('a window too small for a verdict, or a version without a profile, is recorded as no verdict', () => {
    const tiny = windowsOf(100, 1)[0];
    const analysis = analyzeWindow({ rows: windowRows(tiny, 0), inputColumns: INPUTS, profile, policy });
    const verdicts = windowVerdicts(analysis, new Map());
    for (const subject of INPUTS) {
      const v = verdictOf(verdicts, 'data_drift', subject);
      assert.equal(v.value, null);
      assert.match(v.message, /100 rows < 500/);
    }
    const unprofiled = analyzeWindow({
      rows: windowRows(tiny, 0),
      inputColumns: INPUTS,
      profile: null,
      policy,
    });
    assert.equal(unprofiled.profiled, false);
    assert.deepEqual(windowVerdicts(unprofiled, new Map()), []);
  });
});
