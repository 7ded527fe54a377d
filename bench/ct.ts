/**
 * bench:ct — continuous training, measured. Per scenario, on its own stack (Postgres, Temporal,
 * worker): the flights views materialized, the champion trained by the flights pipeline as of March 1
 * (January–February), then a replay of March–June day by day (runtime/replay.ts): each day scored in
 * batch and logged, the monitor as its schedule runs it, alerts answered by re-promotion or
 * retraining, a scheduled retraining every `--every`. The same flights scored by the March 1 model
 * left alone are the baseline. One JSON line per scenario, then one with all of them.
 *
 * Scenarios: `real` (the recorded data), `sudden` / `gradual` / `recurring` (from April 1 flights
 * departing the busiest hubs arrive SHIFT_MINUTES later: at once, growing over 3 weeks, or on
 * alternate weeks — concept drift: the outcome changes, the recorded history the features read does
 * not), and `control` (the six months' days shuffled: the same world throughout, no drift).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Bool, makeData, makeVector, Table, tableFromIPC, tableToIPC, type Vector } from 'apache-arrow';
import * as pq from 'parquet-wasm/esm';
import { and, eq, gt, inArray } from 'drizzle-orm';
import { monitorAlerts, retrainings } from '../db/schema.js';
import {
  flightDelayed,
  flightDelaysPipeline,
  flightDelaysPolicy,
} from '../examples/flights/continuous-training.js';
import { flightsDefinitions, flightsSource } from '../examples/flights/features.js';
import { FLIGHT_SPINE_KEYS, FLIGHT_VIEW_FEATURES } from '../examples/flights/training-set.js';
import {
  clearSourceCache,
  openSource,
  parseDuration,
  rawColumnToVector,
  type RawColumn,
  writeFileAtomic,
} from '../feature-store/index.js';
import { initParquetWasm } from '../feature-store/sources/parquet.js';
import { auc } from '../models/metrics.js';
import { applyMonitoringDefinitions } from '../monitoring/registry.js';
import { runBatchScore } from '../runtime/batch-score-runner.js';
import { runMaterialization } from '../runtime/materialization-runner.js';
import { DAY_MS, runReplay, type ReplayDay } from '../runtime/replay.js';
import { startRetrain } from '../runtime/retrain-runner.js';
import { resultOf } from '../runtime/workflow-runs.js';
import { applyTrainingPipelines } from '../training/registry.js';
import { log, round, runBench, withBenchStack, type BenchStack } from './bench-stack.js';
import {
  byDay,
  HUBS,
  JAN_1,
  JUL_1,
  MAR_1,
  SCENARIOS,
  SHIFT_MINUTES,
  world,
  type Flights,
  type Scenario,
  type World,
} from './ct-scenarios.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = flightDelaysPipeline.model;
async function loadFlights(): Promise<Flights> {
  const source = await openSource(flightsSource, { dataRoot: ROOT });
  const column = (name: string) => source.column(name);
  const delay = column('delay');
  const origin = column('origin');
  const destination = column('destination');
  if (delay.kind !== 'number' || origin.kind !== 'string' || destination.kind !== 'string')
    throw new Error('flights: unexpected column types');
  return {
    length: source.length,
    date: source.eventTs,
    delay: delay.values,
    origin,
    destination,
    distance: column('distance'),
  };
}

/** A column of `values` with no nulls. */
const denseColumn = (kind: 'timestamp' | 'number', values: Float64Array): RawColumn => ({
  kind,
  values,
  valid: new Uint8Array(values.length).fill(1),
});

function boolVector(values: Uint8Array, rows: Uint32Array): Vector {
  const data = new Uint8Array((rows.length + 7) >> 3);
  for (let i = 0; i < rows.length; i++) if (values[rows[i]]) data[i >> 3] |= 1 << (i & 7);
  return makeVector(makeData({ type: new Bool(), length: rows.length, data }));
}

/**
 * The scenario's data root: the flights file its features read (the recorded one, or the shuffled
 * days), the airports, and `labels.arrow` — each flight's outcome in this world.
 */
function writeScenarioRoot(dir: string, flights: Flights, w: World, scenario: Scenario): void {
  const data = path.join(dir, 'node_modules/vega-datasets/data');
  mkdirSync(data, { recursive: true });
  const recorded = path.join(ROOT, 'node_modules/vega-datasets/data');
  symlinkSync(path.join(recorded, 'airports.csv'), path.join(data, 'airports.csv'));
  const all = new Uint32Array(flights.length).map((_, i) => i);
  const vector = (column: RawColumn, dictionaryId: number) =>
    rawColumnToVector(column, flights.length, { dictionaryId, rows: all });
  // Built once, shared by the flights file (control) and the labels file.
  const keys = {
    date: vector(denseColumn('timestamp', w.date), 0),
    origin: vector(flights.origin, 1),
    destination: vector(flights.destination, 2),
  };
  const delay = vector(denseColumn('number', w.delay), 3);
  if (scenario === 'control') {
    initParquetWasm();
    const table = new Table({ ...keys, delay, distance: vector(flights.distance, 4) });
    writeFileSync(
      path.join(data, 'flights-3m.parquet'),
      pq.writeParquet(pq.Table.fromIPCStream(tableToIPC(table, 'stream'))),
    );
  } else symlinkSync(path.join(recorded, 'flights-3m.parquet'), path.join(data, 'flights-3m.parquet'));
  const late = Uint8Array.from(w.delay, (d) => (d > 15 ? 1 : 0));
  writeFileSync(
    path.join(dir, 'labels.arrow'),
    tableToIPC(new Table({ ...keys, delay, late: boolVector(late, all) }), 'file'),
  );
}

/** The scores of an output file of batch scoring, in its rows' order. */
const scoresOf = (file: string) =>
  Float64Array.from(tableFromIPC(readFileSync(file)).getChild('score')!.toArray() as ArrayLike<number>);

interface ScenarioReport {
  scenario: Scenario;
  days: number;
  scored: number;
  detection_delay_days: number | null;
  false_alarms: number | null;
  alerts: Record<string, number>;
  retrains: Record<string, number>;
  promotions: number;
  repromotions: number;
  /** Days whose alerts were answered by a re-promotion alone: the answer's seconds (decision and promotion). */
  repromotion_seconds: number[];
  auc_ct: number;
  auc_static: number;
  auc_gain: number;
  seconds_per_month: number;
  replay_seconds: number;
  /** Replay seconds by phase (scoring, scheduled retraining, monitor, alert responses). */
  phase_seconds: Record<string, number>;
}

async function runScenario(
  stack: BenchStack,
  flights: Flights,
  w: World,
  scenario: Scenario,
  opts: { endMs: number; everyMs: number },
): Promise<ScenarioReport> {
  const { store, temporal, database, config, work } = stack;
  const deps = { temporal, taskQueue: config.taskQueue };
  const db = database.db;
  await store.apply(flightsDefinitions());
  const labels = {
    ...flightDelayed,
    source: { kind: 'arrow' as const, path: 'labels.arrow', timestampField: 'date' },
  };
  await applyMonitoringDefinitions(db, {
    labelSources: [{ ...labels, label: { column: 'late' } }],
    monitorPolicies: [flightDelaysPolicy],
  });
  await applyTrainingPipelines(db, [flightDelaysPipeline]);
  for (const view of Object.keys(FLIGHT_VIEW_FEATURES)) {
    log(`[${scenario}] materializing ${view}…`);
    await runMaterialization({ store, temporal, taskQueue: config.taskQueue }, { view });
  }
  log(`[${scenario}] the champion: the pipeline as of ${new Date(MAR_1).toISOString()}…`);
  const champion = await resultOf(
    await startRetrain(deps, { model: MODEL, asOfMs: MAR_1, trigger: 'manual' }),
  );
  if (champion.pipeline.status !== 'promoted')
    throw new Error(`the first version was not promoted: ${champion.pipeline.reasons.join('; ')}`);
  const staticVersion = champion.pipeline.version;

  const { order, start } = byDay(w.date);
  const dayIndex = (ms: number) => Math.round((ms - JAN_1) / DAY_MS);
  const spineOf = async (rows: Uint32Array, file: string) => {
    await writeFileAtomic(
      file,
      tableToIPC(
        new Table({
          date: rawColumnToVector(denseColumn('timestamp', w.date), flights.length, {
            dictionaryId: 0,
            rows,
          }),
          origin: rawColumnToVector(flights.origin, flights.length, { dictionaryId: 1, rows }),
          destination: rawColumnToVector(flights.destination, flights.length, { dictionaryId: 2, rows }),
        }),
        'file',
      ),
    );
    return file;
  };
  const spineSpec = (file: string) => ({ path: file, ...FLIGHT_SPINE_KEYS });
  const spinesDir = path.join(work, 'spines');
  const scoresDir = path.join(work, 'scores');
  mkdirSync(spinesDir, { recursive: true });
  mkdirSync(scoresDir, { recursive: true });

  const started = performance.now();
  const days: ReplayDay[] = await runReplay(
    { temporal, taskQueue: config.taskQueue },
    {
      model: MODEL,
      startMs: MAR_1,
      endMs: opts.endMs,
      daySpine: (dayMs) =>
        spineOf(
          order.subarray(start[dayIndex(dayMs)], start[dayIndex(dayMs) + 1]),
          path.join(spinesDir, `${dayIndex(dayMs)}.arrow`),
        ).then(spineSpec),
      scoresDir,
      windowMs: parseDuration(flightDelaysPolicy.window),
      retrainEveryMs: opts.everyMs,
      onDay: (day) =>
        log(
          `[${scenario}] ${new Date(day.dayStartMs).toISOString().slice(0, 10)} v${day.version} ` +
            `${day.scored} scored, AUC ${day.monitor.map((m) => m.versions.map((v) => `v${v.version} ${v.auc?.toFixed(3) ?? '-'} (ref ${v.referenceAuc?.toFixed(3) ?? '-'})`).join(' ')).join(' / ')}, ` +
            `alerts ${[...new Set(day.monitor.flatMap((m) => m.alerts.map((a) => `${a.kind}:${a.subject}`)))].join(',') || '-'}` +
            `${day.responses.map((r) => ` → ${r.reasons.join('; ')}`).join('')}` +
            `${day.scheduledRetraining ? ` scheduled v${day.scheduledRetraining.pipeline.version} ${day.scheduledRetraining.pipeline.status}` : ''}` +
            ` (${day.seconds.toFixed(1)} s: ${Object.entries(day.phases)
              .map(([k, v]) => `${k} ${v.toFixed(1)}`)
              .join(', ')})`,
        ),
    },
  );
  const replaySeconds = (performance.now() - started) / 1000;

  // The same flights, in the same order, scored by the March 1 model left alone.
  const rows = order.subarray(start[dayIndex(MAR_1)], start[dayIndex(opts.endMs)]);
  log(`[${scenario}] the static model v${staticVersion} on the ${rows.length} replayed flights…`);
  const staticOut = path.join(work, 'static-scores.arrow');
  await runBatchScore(deps, {
    model: MODEL,
    ref: staticVersion,
    spine: spineSpec(await spineOf(rows, path.join(work, 'static-spine.arrow'))),
    out: staticOut,
  });
  const ctScores = new Float64Array(rows.length);
  let offset = 0;
  for (const day of days) {
    ctScores.set(scoresOf(day.scoresPath), offset);
    offset += day.scored;
  }
  const late = Uint8Array.from(rows, (r) => (w.delay[r] > 15 ? 1 : 0));
  const aucCt = auc(late, ctScores);
  const aucStatic = auc(late, scoresOf(staticOut));

  const retrainsOn = flightDelaysPipeline.retraining?.on ?? [];
  const alertRows = await db
    .select()
    .from(monitorAlerts)
    .where(and(eq(monitorAlerts.modelName, MODEL), gt(monitorAlerts.windowEnd, new Date(MAR_1))))
    .orderBy(monitorAlerts.id);
  const alerts: Record<string, number> = {};
  for (const a of alertRows) alerts[a.kind] = (alerts[a.kind] ?? 0) + 1;
  const retrainAlerts = alertRows.filter((a) => (retrainsOn as readonly string[]).includes(a.kind));
  const driftStart = w.driftStartMs;
  // Alarms nothing injected explains: before the drift starts, or any in the control (the real data has drift of its own).
  const falseAlarms =
    scenario === 'real'
      ? null
      : retrainAlerts.filter((a) => driftStart === null || a.windowEnd.getTime() <= driftStart).length;
  const detected =
    driftStart === null
      ? undefined
      : days.find((d) =>
          d.monitor.some(
            (m) => m.endMs > driftStart && m.alerts.some((a) => retrainAlerts.some((r) => r.id === a.id)),
          ),
        );
  const runs = await db
    .select()
    .from(retrainings)
    .where(and(eq(retrainings.modelName, MODEL), inArray(retrainings.trigger, ['schedule', 'alert'])));
  const retrains: Record<string, number> = {};
  for (const r of runs)
    retrains[`${r.trigger}_${r.outcome}`] = (retrains[`${r.trigger}_${r.outcome}`] ?? 0) + 1;
  const responses = days.flatMap((d) => d.responses);
  return {
    scenario,
    days: days.length,
    scored: rows.length,
    detection_delay_days: detected ? round((detected.dayStartMs + DAY_MS - driftStart!) / DAY_MS) : null,
    false_alarms: falseAlarms,
    alerts,
    retrains,
    promotions: runs.filter((r) => r.outcome === 'promoted').length,
    repromotions: responses.filter((r) => r.repromotion?.promoted).length,
    repromotion_seconds: days
      .filter(
        (d) => d.responses.some((r) => r.repromotion?.promoted) && d.responses.every((r) => !r.retraining),
      )
      .map((d) => round(d.phases.respond)),
    auc_ct: round(aucCt),
    auc_static: round(aucStatic),
    auc_gain: round(aucCt - aucStatic),
    seconds_per_month: round((replaySeconds / days.length) * 30),
    replay_seconds: round(replaySeconds),
    phase_seconds: Object.fromEntries(
      Object.keys(days[0].phases).map((k) => [
        k,
        round(days.reduce((sum, d) => sum + d.phases[k as keyof ReplayDay['phases']], 0)),
      ]),
    ),
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string', default: SCENARIOS.join(',') },
      until: { type: 'string', default: '2001-07-01' },
      every: { type: 'string', default: '7d' },
    },
  });
  const scenarios = values.scenarios.split(',') as Scenario[];
  for (const s of scenarios)
    if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}: one of ${SCENARIOS}`);
  const endMs = Date.parse(`${values.until}T00:00:00Z`);
  if (!(endMs > MAR_1 && endMs <= JUL_1))
    throw new Error(`--until ${values.until}: expected a day in 2001-03-02..2001-07-01`);
  const everyMs = parseDuration(values.every);
  log('reading the flights…');
  const flights = await loadFlights();
  const reports: ScenarioReport[] = [];
  for (const scenario of scenarios) {
    const w = world(flights, scenario);
    const root = mkdtempSync(path.join(os.tmpdir(), `kaizen-ct-${scenario}-`));
    writeScenarioRoot(root, flights, w, scenario);
    await withBenchStack(
      `ct-${scenario}`,
      async (stack) => {
        const report = await runScenario(stack, flights, w, scenario, { endMs, everyMs });
        reports.push(report);
        console.log(JSON.stringify(report));
      },
      { KAIZEN_DATA_ROOT: root },
    );
    rmSync(root, { recursive: true, force: true });
    clearSourceCache();
  }
  const drifting = reports.filter((r) => r.scenario !== 'control' && r.scenario !== 'real');
  const control = reports.find((r) => r.scenario === 'control');
  console.log(
    JSON.stringify({
      bench: 'ct',
      until: values.until,
      every: values.every,
      hubs: HUBS,
      shift_minutes: SHIFT_MINUTES,
      ct_ahead_on_injected_drift: drifting.length ? drifting.every((r) => r.auc_gain > 0) : null,
      control_within_0_005: control ? control.auc_gain >= -0.005 : null,
      max_seconds_per_month: Math.max(...reports.map((r) => r.seconds_per_month)),
      scenarios: reports,
    }),
  );
}

runBench(main);
