/**
 * bench:pit — a point-in-time training set for all 3M flights (airport and route entities,
 * departure time, label delayed > 15 min) against airport_departures, route_delays and airport_info,
 * vs DuckDB's ASOF LEFT JOIN over the same exported rows (2 threads), in the same process.
 * Ends with one JSON line.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import * as pq from 'parquet-wasm/esm';
import { FLIGHT_VIEW_FEATURES, flightsTrainingSetRequest } from '../examples/flights/training-set.js';
import { initParquetWasm } from '../feature-store/sources/parquet.js';
import { clearSourceCache } from '../feature-store/sources/index.js';
import { runTrainingSetBuild } from '../runtime/training-set-runner.js';
import { log, round, runBench, withBenchStack } from './bench-stack.js';
import { prepareFlights } from './flights-setup.js';

async function main() {
  await withBenchStack('pit', async (stack) => {
    const { config, store, temporal, work } = stack;
    const spineArrow = await prepareFlights(stack);
    const request = flightsTrainingSetRequest(spineArrow, path.join(work, 'training-set.arrow'), {
      shards: 2,
    });
    // Exports happen once and are reused while the ledger is unchanged; both engines start from them.
    const plan = await store.planTrainingSet(request);
    clearSourceCache();

    log('kaizen: buildTrainingSet workflow…');
    let t = performance.now();
    const { manifest } = await runTrainingSetBuild({ temporal, taskQueue: config.taskQueue }, request);
    const seconds = (performance.now() - t) / 1000;
    const peakRssMb = process.resourceUsage().maxRSS / 1024;

    log('duckdb: ASOF LEFT JOIN over the same exported rows…');
    initParquetWasm();
    const toParquet = (arrowFile: string, out: string) =>
      writeFileSync(
        out,
        pq.writeParquet(pq.Table.fromIPCStream(tableToIPC(tableFromIPC(readFileSync(arrowFile)), 'stream'))),
      );
    const exports = Object.fromEntries(plan.views.map((v) => [v.name, path.join(work, `${v.name}.parquet`)]));
    for (const v of plan.views) toParquet(v.exportPath, exports[v.name]);
    const spineParquet = path.join(work, 'spine.parquet');
    toParquet(spineArrow, spineParquet);
    const duckOut = path.join(work, 'duckdb.parquet');
    const ttl = Object.fromEntries(plan.views.map((v) => [v.name, v.ttlMs]));
    const db = await DuckDBInstance.create(':memory:', { threads: '2' });
    const duck = await db.connect();
    t = performance.now();
    await duck.run(duckdbSql(spineParquet, exports, ttl, duckOut));
    const duckdbSeconds = (performance.now() - t) / 1000;

    const identical = compare(tableFromIPC(readFileSync(manifest.path)), readParquetTable(duckOut));
    console.log(
      JSON.stringify({
        rows: manifest.rowCount,
        views: plan.views.length,
        seconds: round(seconds),
        duckdb_seconds: round(duckdbSeconds),
        ratio: round(seconds / duckdbSeconds),
        peak_rss_mb: Math.round(peakRssMb),
        identical,
      }),
    );
  });
}

/** The same contract in SQL: newest row by (event_ts, created_ts, file order) with ts - ttl <= event_ts <= ts. */
function duckdbSql(
  spine: string,
  exports: Record<string, string>,
  ttl: Record<string, number | undefined>,
  out: string,
): string {
  const latest = (name: string) => `
    CREATE TEMP TABLE ${name} AS SELECT * EXCLUDE (ord, rn) FROM (
      SELECT *, row_number() OVER (PARTITION BY entity_key, event_ts ORDER BY created_ts DESC, ord DESC) AS rn
      FROM (SELECT *, row_number() OVER () AS ord FROM read_parquet('${exports[name]}'))) WHERE rn = 1;`;
  const within = (alias: string, view: string) =>
    ttl[view] === undefined ? 'TRUE' : `${alias}.event_ts >= s.date - to_milliseconds(${ttl[view]})`;
  const select = (alias: string, view: keyof typeof FLIGHT_VIEW_FEATURES) =>
    FLIGHT_VIEW_FEATURES[view]
      .map((f) => `CASE WHEN ${within(alias, view)} THEN ${alias}.${f} END AS ${view}__${f}`)
      .join(', ');
  return `
    ${latest('airport_departures')}
    ${latest('route_delays')}
    ${latest('airport_info')}
    CREATE TEMP TABLE spine AS SELECT row_number() OVER () AS rid, * FROM read_parquet('${spine}');
    COPY (
      SELECT s.* EXCLUDE (rid), ${select('d', 'airport_departures')}, ${select('r', 'route_delays')}, ${select('i', 'airport_info')}
      FROM spine s
      ASOF LEFT JOIN airport_departures d ON d.entity_key = s.origin AND d.event_ts <= s.date
      ASOF LEFT JOIN route_delays r ON r.entity_key = s.origin || '-' || s.destination AND r.event_ts <= s.date
      ASOF LEFT JOIN airport_info i ON i.entity_key = s.origin AND i.event_ts <= s.date
      ORDER BY s.rid
    ) TO '${out}' (FORMAT parquet);`;
}

function readParquetTable(file: string): Table {
  return tableFromIPC(pq.readParquet(readFileSync(file)).intoIPCStream());
}

/** Every feature value equal (null = null, numbers exactly), row by row. */
function compare(ours: Table, theirs: Table): boolean {
  if (ours.numRows !== theirs.numRows) return false;
  for (const [view, names] of Object.entries(FLIGHT_VIEW_FEATURES)) {
    for (const f of names) {
      const a = ours.getChild(`${view}__${f}`)!;
      const b = theirs.getChild(`${view}__${f}`)!;
      for (let i = 0; i < ours.numRows; i++) {
        const x = a.get(i);
        const y = b.get(i);
        if ((x === null) !== (y === null) || (x !== null && Number(x) !== Number(y))) {
          log(`mismatch at row ${i} in ${view}__${f}: kaizen ${x}, duckdb ${y}`);
          return false;
        }
      }
    }
  }
  return true;
}

runBench(main);
