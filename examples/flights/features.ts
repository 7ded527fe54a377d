/**
 * Flagship example: will a departing flight be delayed by more than 15 minutes? Point-in-time airport
 * and route features from 3M real US flights (Jan-Jun 2001, npm package vega-datasets).
 */
import { fileURLToPath } from 'node:url';
import {
  defineEntity,
  defineFeatureView,
  defineOnDemandView,
  type SourceDefinition,
} from '../../feature-store/index.js';

export const airport = defineEntity({
  name: 'airport',
  joinKey: 'airport',
  description: 'US airport by IATA code',
});
export const route = defineEntity({
  name: 'route',
  joinKey: 'route',
  description: 'origin-destination, e.g. SFO-LAX',
});

/** `date` is the scheduled departure (naive, read as UTC); `delay` in minutes. */
export const flightsSource: SourceDefinition = {
  kind: 'parquet',
  path: 'node_modules/vega-datasets/data/flights-3m.parquet',
  timestampField: 'date',
};

export const airportDepartures = defineFeatureView({
  name: 'airport_departures',
  description:
    'Departures, mean delay and share delayed > 15 min at the origin airport over the last hour and day',
  entities: [airport],
  entityColumns: { airport: 'origin' },
  source: flightsSource,
  ttl: '1h',
  transform: {
    kind: 'window',
    hop: '15m',
    windows: ['1h', '24h'],
    aggregations: [
      { name: 'departures', fn: 'count' },
      { name: 'mean_delay', fn: 'mean', column: 'delay' },
      { name: 'frac_delayed', fn: 'mean', column: 'delay', compare: { op: '>', value: 15 } },
    ],
  },
});

export const routeDelays = defineFeatureView({
  name: 'route_delays',
  description: 'Flights and mean delay on the route over the last week',
  entities: [route],
  entityColumns: { route: ['origin', 'destination'] },
  source: flightsSource,
  ttl: '1d',
  transform: {
    kind: 'window',
    hop: '1d',
    windows: ['7d'],
    aggregations: [
      { name: 'flights', fn: 'count' },
      { name: 'mean_delay', fn: 'mean', column: 'delay' },
    ],
  },
});

export const airportInfo = defineFeatureView({
  name: 'airport_info',
  description: 'Static airport attributes',
  entities: [airport],
  entityColumns: { airport: 'iata' },
  source: { kind: 'csv', path: 'node_modules/vega-datasets/data/airports.csv' },
  features: { state: 'string', latitude: 'float64', longitude: 'float64' },
});

/**
 * Request-time features of the departure: computed from the request (at training: the spine's
 * `date`), by this same function when building training sets and when serving.
 */
export const departureTime = defineOnDemandView({
  name: 'departure_time',
  description: 'Hour of day (0-23) and day of week (0 = Sunday) of the scheduled departure',
  request: { departure: 'timestamp' },
  features: { hour_of_day: 'int64', day_of_week: 'int64' },
  compute: ({ rows, request }) => {
    const departure = request.departure.values as Float64Array;
    const valid = request.departure.valid.slice();
    const hour = new Float64Array(rows);
    const day = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      if (!valid[i]) continue;
      // Naive local times are stored as UTC, so UTC fields are the local hour and weekday.
      const hours = Math.floor(departure[i] / 3_600_000);
      hour[i] = ((hours % 24) + 24) % 24;
      // 1970-01-01 was a Thursday (4).
      day[i] = (((Math.floor(hours / 24) + 4) % 7) + 7) % 7;
    }
    return {
      hour_of_day: { type: 'int64', values: hour, valid },
      day_of_week: { type: 'int64', values: day, valid: valid.slice() },
    };
  },
});

/**
 * All definitions of this file, ready for FeatureStore.apply (`module`: where departure_time's code
 * is bundled from). A function, not a constant: bundling tree-shakes what departure_time does not
 * use, and a top-level call here would keep every definition of the file in its bundle.
 */
export function flightsDefinitions() {
  return {
    module: fileURLToPath(import.meta.url),
    entities: [airport, route],
    views: [airportDepartures, routeDelays, airportInfo],
    onDemandViews: [departureTime],
  };
}
