/**
 * bench:materialize — 3M real flights through the materialization workflow vs a bare binary COPY of
 * the same decoded rows into an unindexed table, in the same process. Ends with one JSON line.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { airport, airportDepartures, flightsSource, routeDelays } from '../examples/flights/features.js';
import { COPY_HEADER, COPY_TRAILER, encodeFrame } from '../feature-store/offline/copy-binary.js';
import { defineFeatureView } from '../feature-store/definitions/feature-view.js';
import { quoteIdent } from '../feature-store/definitions/identifiers.js';
import { storeColumns } from '../feature-store/registry/store-tables.js';
import { openSource } from '../feature-store/sources/index.js';
import type { Column, FeatureFrame } from '../feature-store/definitions/types.js';
import { runMaterialization } from '../runtime/materialization-runner.js';
import { log, round, runBench, withBenchStack } from './bench-stack.js';

const flightsRaw = defineFeatureView({
  name: 'flights_raw',
  description: 'Raw flights, no transformation (benchmark)',
  entities: [airport],
  entityColumns: { airport: 'origin' },
  source: flightsSource,
  features: { delay: 'int64', distance: 'int64', destination: 'string' },
});

async function main() {
  await withBenchStack('materialize', async ({ config, database, store, temporal }) => {
    const deps = { store, temporal, taskQueue: config.taskQueue };
    await store.apply({
      entities: [airport],
      views: [flightsRaw, airportDepartures, routeDelays],
    });
    // Decode the file once up front: both measurements start from the same in-memory columns.
    const data = await openSource(flightsSource, { dataRoot: config.dataRoot });
    const rows = data.length;

    log('materializing flights_raw through the workflow…');
    let t = performance.now();
    const raw = await runMaterialization(deps, { view: 'flights_raw' });
    const seconds = (performance.now() - t) / 1000;
    if (raw.result.rowsWritten + raw.result.rowsQuarantined !== rows) {
      throw new Error(
        `expected ${rows} rows, wrote ${raw.result.rowsWritten} and quarantined ${raw.result.rowsQuarantined}`,
      );
    }

    log('baseline: one binary COPY of the same rows into an unindexed table…');
    const view = await store.getView('flights_raw');
    const all = data.select({ startMs: -Infinity, endMs: Infinity });
    const frame = frameFromSource(data, all);
    await database.pool.query(
      'CREATE TABLE IF NOT EXISTS bench_copy_baseline (LIKE kaizen_offline."flights_raw__v1" INCLUDING IDENTITY)',
    );
    await database.pool.query('TRUNCATE bench_copy_baseline');
    t = performance.now();
    const client = await database.pool.connect();
    try {
      // The same column list as the offline append (ingest_seq is the table's own).
      const columns = storeColumns(view.features).map(quoteIdent).join(', ');
      const sink = client.query(copyFrom(`COPY bench_copy_baseline (${columns}) FROM STDIN (FORMAT binary)`));
      const constants = { createdTsMs: Date.now(), materializationId: 'baseline' };
      await pipeline(
        Readable.from(
          (function* () {
            yield COPY_HEADER;
            yield* encodeFrame(frame, view.features, constants);
            yield COPY_TRAILER;
          })(),
        ),
        sink,
      );
    } finally {
      client.release();
    }
    const baselineSeconds = (performance.now() - t) / 1000;

    log('materializing airport_departures and route_delays (6 months)…');
    t = performance.now();
    const departures = await runMaterialization(deps, { view: 'airport_departures' });
    const routes = await runMaterialization(deps, { view: 'route_delays' });
    const aggSeconds = (performance.now() - t) / 1000;
    log(
      `airport_departures: ${departures.result.rowsWritten} rows; route_delays: ${routes.result.rowsWritten} rows`,
    );

    const rowsPerS = raw.result.rowsWritten / seconds;
    const baseline = rows / baselineSeconds;
    console.log(
      JSON.stringify({
        rows: raw.result.rowsWritten,
        seconds: round(seconds),
        rows_per_s: Math.round(rowsPerS),
        copy_baseline_rows_per_s: Math.round(baseline),
        ratio: round(rowsPerS / baseline),
        agg_seconds: round(aggSeconds),
        agg_rows: departures.result.rowsWritten + routes.result.rowsWritten,
      }),
    );
  });
}

/** The raw columns as a frame (entity = origin), decoded the same way the materializer sees them. */
function frameFromSource(data: Awaited<ReturnType<typeof openSource>>, rows: Uint32Array): FeatureFrame {
  const origin = data.column('origin');
  const destination = data.column('destination');
  if (origin.kind !== 'string' || destination.kind !== 'string') throw new Error('unexpected flights schema');
  const numeric = (name: string): Column => {
    const c = data.column(name);
    if (c.kind !== 'number') throw new Error(`unexpected type of ${name}`);
    return {
      type: 'int64',
      values: Float64Array.from(rows, (i) => c.values[i]),
      valid: Uint8Array.from(rows, (i) => c.valid[i]),
    };
  };
  return {
    length: rows.length,
    entityKey: Array.from(rows, (i) => origin.dictionary[origin.codes[i]]),
    eventTs: Float64Array.from(rows, (i) => data.eventTs[i]),
    columns: {
      delay: numeric('delay'),
      distance: numeric('distance'),
      destination: {
        type: 'string',
        values: Array.from(rows, (i) => destination.dictionary[destination.codes[i]]),
        valid: Uint8Array.from(rows, (i) => (destination.codes[i] >= 0 ? 1 : 0)),
      },
    },
  };
}

runBench(main);
