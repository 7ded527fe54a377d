/**
 * The flagship training set: every flight, keyed by origin airport and route at its scheduled
 * departure, labelled delayed (> 15 min), with airport, route and static airport features.
 */
import { Bool, makeData, makeVector, Table, tableToIPC } from 'apache-arrow';
import {
  openSource,
  rawColumnToVector,
  type RawColumn,
  type TimeRange,
  type TrainingSetRequest,
  writeFileAtomic,
} from '../../feature-store/index.js';
import { flightsSource } from './features.js';

/** Features of the materialized views. */
export const FLIGHT_VIEW_FEATURES = {
  airport_departures: [
    'departures_1h',
    'mean_delay_1h',
    'frac_delayed_1h',
    'departures_24h',
    'mean_delay_24h',
    'frac_delayed_24h',
  ],
  route_delays: ['flights_7d', 'mean_delay_7d'],
  airport_info: ['latitude', 'longitude'],
} as const;

/** Everything the flights models use: view features plus on-demand features of the departure. */
export const FLIGHT_FEATURES = {
  ...FLIGHT_VIEW_FEATURES,
  departure_time: ['hour_of_day', 'day_of_week'],
} as const;

/** `{ view, feature }` of each feature in `features` (all the flights models use, by default). */
export function flightFeatureRefs(
  features: Record<string, readonly string[]> = FLIGHT_FEATURES,
): Array<{ view: string; feature: string }> {
  return Object.entries(features).flatMap(([view, names]) => names.map((feature) => ({ view, feature })));
}

/** How a flights spine (writeFlightsSpine) keys its rows: origin airport, route, scheduled departure. */
export const FLIGHT_SPINE_KEYS = {
  entities: [
    { entity: 'airport', columns: ['origin'] },
    { entity: 'route', columns: ['origin', 'destination'] },
  ],
  tsColumn: 'date',
  request: { departure: 'date' },
};

/** Train on Jan-Apr 2001, validate on May, test on June. */
export const FLIGHTS_SPLIT = { trainEndMs: Date.UTC(2001, 4, 1), validEndMs: Date.UTC(2001, 5, 1) };

/**
 * Writes the spine (`date`, `origin`, `destination`, `delayed`) as an Arrow IPC file: every flight,
 * or those departing within `range`.
 */
export async function writeFlightsSpine(dataRoot: string, out: string, range?: TimeRange): Promise<void> {
  const flights = await openSource(flightsSource, { dataRoot });
  const delay = flights.column('delay');
  if (delay.kind !== 'number') throw new Error(`flights: expected a numeric delay, got ${delay.kind}`);
  // A range's rows, sorted back into file order; all rows without a range.
  const rows = range ? flights.select(range).slice().sort() : undefined;
  const length = rows ? rows.length : flights.length;
  const label = new Uint8Array((length + 7) >> 3);
  for (let i = 0; i < length; i++) if (delay.values[rows ? rows[i] : i] > 15) label[i >> 3] |= 1 << (i & 7);
  const date: RawColumn = {
    kind: 'timestamp',
    values: flights.eventTs,
    valid: new Uint8Array(flights.length).fill(1),
  };
  const spine = new Table({
    date: rawColumnToVector(date, length, { dictionaryId: 0, rows }),
    origin: rawColumnToVector(flights.column('origin'), length, { dictionaryId: 1, rows }),
    destination: rawColumnToVector(flights.column('destination'), length, { dictionaryId: 2, rows }),
    delayed: makeVector(makeData({ type: new Bool(), length, data: label })),
  });
  await writeFileAtomic(out, tableToIPC(spine, 'file'));
}

export function flightsTrainingSetRequest(
  spine: string,
  out: string,
  extra: Partial<TrainingSetRequest> = {},
): TrainingSetRequest {
  return {
    spine: { path: spine, ...FLIGHT_SPINE_KEYS, labelColumn: 'delayed' },
    features: flightFeatureRefs(),
    out,
    ...extra,
  };
}
