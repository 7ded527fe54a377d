import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { batchScoreInputFromOptions, parseModelRef } from '../cli/commands/score.js';
import { parseEntityOption, parseRequestOption, parseSplitOption } from '../cli/commands/training-set.js';
import { parseFeatureRefs } from '../feature-store/index.js';

describe('training-set CLI options', () => {
  test('--entity: one or several columns for an entity', () => {
    assert.deepEqual(parseEntityOption('origin=airport'), { entity: 'airport', columns: ['origin'] });
    assert.deepEqual(parseEntityOption('origin,destination=route'), {
      entity: 'route',
      columns: ['origin', 'destination'],
    });
    assert.throws(() => parseEntityOption('origin'), /invalid --entity "origin"/);
  });

  test('--request: the spine column of an on-demand request field', () => {
    assert.deepEqual(parseRequestOption('departure=date'), ['departure', 'date']);
    assert.throws(
      () => parseRequestOption('date'),
      /invalid --request "date": expected <field>=<spine column>/,
    );
  });

  test('--features: view, optional version, feature', () => {
    assert.deepEqual(parseFeatureRefs('airport_departures:departures_1h, route_delays@v2:flights_7d'), [
      { view: 'airport_departures', version: undefined, feature: 'departures_1h' },
      { view: 'route_delays', version: 2, feature: 'flights_7d' },
    ]);
    assert.throws(() => parseFeatureRefs('airport_departures'), /expected <view>\[@vN\]:<feature>/);
    assert.throws(() => parseFeatureRefs('a:b:c'), /invalid feature reference "a:b:c"/);
  });

  test('--split time: ISO times without an offset are UTC, whatever the local zone', () => {
    assert.deepEqual(parseSplitOption('time:2001-05-01,2001-06-01T00:00:00+02:00'), {
      trainEndMs: Date.UTC(2001, 4, 1),
      validEndMs: Date.UTC(2001, 4, 31, 22),
    });
    assert.throws(() => parseSplitOption('random:0.8'), /expected time:<train_end>,<valid_end>/);
    assert.throws(() => parseSplitOption('time:2001-06-01,2001-05-01'), /train_end must precede valid_end/);
    assert.throws(() => parseSplitOption('time:2001-05-01,June'), /invalid --split valid_end "June"/);
  });
});

describe('score CLI options', () => {
  test('<model>[@<version>|@champion|@challenger]: the champion by default', () => {
    assert.deepEqual(parseModelRef('flight_delays'), { model: 'flight_delays', ref: 'champion' });
    assert.deepEqual(parseModelRef('flight_delays@3'), { model: 'flight_delays', ref: 3 });
    assert.deepEqual(parseModelRef('flight_delays@v3'), { model: 'flight_delays', ref: 3 });
    assert.deepEqual(parseModelRef('flight_delays@challenger'), {
      model: 'flight_delays',
      ref: 'challenger',
    });
    assert.throws(() => parseModelRef('flight_delays@latest'), /invalid model "flight_delays@latest"/);
    assert.throws(() => parseModelRef('@3'), /expected <model>\[@<version>\|@champion\|@challenger\]/);
  });

  test('mapping options override the training spine mapping; left out, they stay unset', () => {
    const base = { spine: '/data/march.arrow', out: 's.arrow', entity: [], request: [] };
    assert.deepEqual(batchScoreInputFromOptions('m', base), {
      model: 'm',
      ref: 'champion',
      spine: { path: '/data/march.arrow', entities: undefined, tsColumn: undefined, request: undefined },
      out: 's.arrow',
      log: false,
      shards: undefined,
    });
    const input = batchScoreInputFromOptions('m@2', {
      ...base,
      entity: ['origin=airport', 'origin,destination=route'],
      ts: 'date',
      request: ['departure=date'],
      log: true,
      shards: 4,
    });
    assert.deepEqual(input.spine, {
      path: '/data/march.arrow',
      entities: [
        { entity: 'airport', columns: ['origin'] },
        { entity: 'route', columns: ['origin', 'destination'] },
      ],
      tsColumn: 'date',
      request: { departure: 'date' },
    });
    assert.deepEqual([input.ref, input.log, input.shards], [2, true, 4]);
  });
});
