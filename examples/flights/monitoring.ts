/**
 * Monitoring the flagship model: its labels (did the flight arrive more than 15 minutes late?) and
 * its monitor policy. `kaizen apply examples/flights/monitoring.ts` registers both.
 */
import { defineLabelSource } from '../../monitoring/labels/label-source.js';
import { defineMonitorPolicy } from '../../monitoring/policy.js';
import { flightsSource, route } from './features.js';

/**
 * A flight is its route and its scheduled departure, as predictions carry them (`route`, and the
 * `departure` request field). Its outcome is known once it has landed: about two hours after the
 * scheduled departure (the typical block time of these flights), plus its delay.
 */
export const flightDelayed = defineLabelSource({
  name: 'flight_delayed',
  description: 'Arrived more than 15 minutes late',
  entities: [route],
  entityColumns: { route: ['origin', 'destination'] },
  request: { departure: { column: 'date', type: 'timestamp' } },
  source: flightsSource,
  label: { column: 'delay', compare: { op: '>', value: 15 } },
  known: { after: '2h', plusMinutesFrom: 'delay' },
  horizon: '2d',
});

/**
 * Weekly windows (a day's flights share its weather and weekday: every daily window would drift);
 * performance by time of day (departure hour) and by origin airport.
 */
export const flightDelaysPolicy = defineMonitorPolicy({
  model: 'flight_delays',
  description: 'Weekly monitor of the flight delay model',
  labels: 'flight_delayed',
  window: '7d',
  slices: [
    { name: 'time_of_day', input: 'departure_time__hour_of_day', edges: [6, 12, 18] },
    { name: 'origin', field: 'airport', top: 10 },
  ],
});
