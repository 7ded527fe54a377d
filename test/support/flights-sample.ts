import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Bool,
  Float64,
  Table,
  tableFromIPC,
  type Timestamp,
  tableToIPC,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import * as pq from 'parquet-wasm/esm';
import { airportDepartures, airportInfo, routeDelays } from '../../examples/flights/features.js';
import { initParquetWasm } from '../../feature-store/sources/parquet.js';
import type { FeatureViewDefinition } from '../../feature-store/definitions/types.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FLIGHTS_PARQUET = path.join(ROOT, 'node_modules/vega-datasets/data/flights-3m.parquet');

/** The sample writeFlightsSample writes (`flights-sample.arrow` in the data root), as a view source. */
export const FLIGHTS_SAMPLE_SOURCE = {
  kind: 'arrow' as const,
  path: 'flights-sample.arrow',
  timestampField: 'date',
};

/** The flagship views, reading the sample instead of all 3M. */
export const SAMPLE_FLIGHT_VIEWS: FeatureViewDefinition[] = [
  { ...airportDepartures, source: FLIGHTS_SAMPLE_SOURCE },
  { ...routeDelays, source: FLIGHTS_SAMPLE_SOURCE },
  {
    ...airportInfo,
    source: { kind: 'csv', path: path.join(ROOT, 'node_modules/vega-datasets/data/airports.csv') },
  },
];

/** A slice of the real flights, decoded independently of Kaizen's source readers (for reference checks). */
export interface FlightsSample {
  path: string;
  length: number;
  date: number[];
  delay: number[];
  distance: number[];
  origin: string[];
  destination: string[];
}

let flights: Table | undefined;

function readFlights(): Table {
  if (!flights) {
    initParquetWasm();
    flights = tableFromIPC(pq.readParquet(readFileSync(FLIGHTS_PARQUET)).intoIPCStream());
  }
  return flights;
}

/** Writes the flights from `origins` with `startMs <= date < endMs` as an Arrow IPC file in `dir`. */
export function writeFlightsSample(
  dir: string,
  filter: { origins: string[]; startMs: number; endMs: number },
): FlightsSample {
  const table = readFlights();
  const [date, delay, distance, origin, destination] = [
    'date',
    'delay',
    'distance',
    'origin',
    'destination',
  ].map((name) => table.getChild(name)!);
  const wanted = new Set(filter.origins);
  const sample: FlightsSample = {
    path: path.join(dir, 'flights-sample.arrow'),
    length: 0,
    date: [],
    delay: [],
    distance: [],
    origin: [],
    destination: [],
  };
  // Typed-array access for the filter (a get() per value of 3M rows takes the better part of a minute).
  const msPerUnit = [1000, 1, 1e-3, 1e-6][(date.type as Timestamp).unit];
  const dates = date.toArray() as BigInt64Array;
  for (let i = 0; i < dates.length; i++) {
    const ts = Number(dates[i]) * msPerUnit;
    if (ts < filter.startMs || ts >= filter.endMs || !wanted.has(origin.get(i))) continue;
    sample.date.push(ts);
    sample.delay.push(Number(delay.get(i)));
    sample.distance.push(Number(distance.get(i)));
    sample.origin.push(origin.get(i));
    sample.destination.push(destination.get(i));
  }
  sample.length = sample.date.length;
  const out = new Table({
    date: vectorFromArray(sample.date, new TimestampMillisecond()),
    delay: vectorFromArray(sample.delay, new Float64()),
    distance: vectorFromArray(sample.distance, new Float64()),
    origin: vectorFromArray(sample.origin, new Utf8()),
    destination: vectorFromArray(sample.destination, new Utf8()),
  });
  writeFileSync(sample.path, tableToIPC(out, 'file'));
  return sample;
}

/**
 * Writes a spine of the sample's rows `rows` (in that order) as an Arrow IPC file: `departure` (the
 * scheduled departure), `origin`, `destination`, `delayed` (delay > 15 min), and, with `asOfMs`, an
 * `asof` column holding it (features looked up then rather than at departure).
 */
export function writeSampleSpine(sample: FlightsSample, file: string, rows: number[], asOfMs?: number): void {
  const table = new Table({
    ...(asOfMs === undefined
      ? {}
      : {
          asof: vectorFromArray(
            rows.map(() => asOfMs),
            new TimestampMillisecond(),
          ),
        }),
    departure: vectorFromArray(
      rows.map((r) => sample.date[r]),
      new TimestampMillisecond(),
    ),
    origin: vectorFromArray(
      rows.map((r) => sample.origin[r]),
      new Utf8(),
    ),
    destination: vectorFromArray(
      rows.map((r) => sample.destination[r]),
      new Utf8(),
    ),
    delayed: vectorFromArray(
      rows.map((r) => sample.delay[r] > 15),
      new Bool(),
    ),
  });
  writeFileSync(file, tableToIPC(table, 'file'));
}
