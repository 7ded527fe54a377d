/**
 * Continuous training of the flagship model: its labels (did the flight arrive more than 15 minutes
 * late?), its monitor policy and its training pipeline. `kaizen apply
 * examples/flights/continuous-training.ts` registers all three.
 */
import { defineLabelSource } from '../../monitoring/labels/label-source.js';
import { defineMonitorPolicy } from '../../monitoring/policy.js';
import { defineTrainingPipeline } from '../../training/pipeline.js';
import { airport, flightsSource, route } from './features.js';
import { flightFeatureRefs } from './training-set.js';

/**
 * A flight is its origin airport, its route and its scheduled departure, as predictions carry them
 * (`airport`, `route`, and the `departure` request field) and as the training spine keys its features.
 * Its outcome is known once it has landed: about two hours after the scheduled departure (the typical
 * block time of these flights), plus its delay.
 */
export const flightDelayed = defineLabelSource({
  name: 'flight_delayed',
  description: 'Arrived more than 15 minutes late',
  entities: [airport, route],
  entityColumns: { airport: 'origin', route: ['origin', 'destination'] },
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

/**
 * Retraining: six weeks and a half to train on, a week to validate, the last week as the holdout —
 * two months up to the run's as-of time; the spine is every flight of that span whose label was known
 * by then. Labels land within hours, so realized performance is the signal that retrains (and its
 * estimate, when labels lag); input drift is watched and alerted, not retrained on — these features
 * follow the weather and the weekday, and a model that reads them need not change with them.
 */
export const flightDelaysPipeline = defineTrainingPipeline({
  model: 'flight_delays',
  description: 'Delayed more than 15 minutes, from airport, route and departure-time features',
  labels: 'flight_delayed',
  features: flightFeatureRefs(),
  split: { train: '45d', validation: '7d', test: '7d' },
  trainer: { kind: 'builtin', params: { kind: 'mlp', hidden: [64, 32], maxEpochs: 4, patience: 2 } },
  gates: { maxAucDrop: 0.01, maxFairnessGapIncrease: 0.05 },
  retraining: { on: ['performance', 'estimated_performance'], cooldown: '3d' },
});
