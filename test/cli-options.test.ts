import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
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
