import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  categoricalProfile,
  numericProfile,
  PROFILE_CATEGORIES,
  profileColumn,
  scoreProfile,
} from '../monitoring/profile.js';

describe('reference profiles', () => {
  test('numeric: nulls and non-finite values apart, range, mean, std, decile bins summing to 1', () => {
    const values = Float64Array.from({ length: 1000 }, (_, i) => i);
    const valid = new Uint8Array(1000).fill(1);
    valid[0] = 0;
    values[1] = NaN;
    const p = numericProfile(values, valid);
    assert.equal(p.rows, 1000);
    assert.equal(p.nullRate, 0.002);
    assert.deepEqual([p.min, p.max], [2, 999]);
    assert.ok(Math.abs(p.mean - 500.5) < 1e-9);
    assert.equal(p.edges.length, 9);
    assert.ok(Math.abs(p.proportions.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    assert.ok(
      p.proportions.every((x) => Math.abs(x - 0.1) < 0.002),
      p.proportions.join(','),
    );
  });

  test('categorical: shares of the most frequent categories, the rest as other', () => {
    const values = [...Array.from({ length: 60 }, (_, i) => `c${i}`), 'c0', 'c0', null];
    const p = categoricalProfile(values);
    assert.equal(p.rows, 63);
    assert.equal(p.nullRate, 1 / 63);
    assert.equal(Object.keys(p.categories).length, PROFILE_CATEGORIES);
    assert.equal(p.categories.c0, 3 / 62);
    assert.ok(Math.abs(p.otherRate - 10 / 62) < 1e-12);
    assert.equal(profileColumn({ type: 'string', values, valid: new Uint8Array(63) }).kind, 'categorical');
  });

  test('scores: decision and label rates at the serving threshold', () => {
    const p = scoreProfile(Float64Array.of(0.1, 0.6, 0.5, 0.2), Uint8Array.of(0, 1, 0, 0));
    assert.deepEqual([p.predictedPositiveRate, p.positiveRate, p.mean], [0.5, 0.25, 0.35]);
  });
});
