import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { mulberry32 } from '../models/prng.js';
import {
  binCounts,
  binCountsOfSorted,
  chiSquared,
  chiSquaredSurvival,
  kolmogorovSurvival,
  ksTwoSample,
  psi,
  quantileEdges,
} from '../monitoring/stats.js';
import { finiteSorted } from '../monitoring/sort.js';
import { STATS_FIXTURE } from './support/monitoring-fixture.js';

const fixture = STATS_FIXTURE;

const close = (actual: number, expected: number, label: string) =>
  assert.ok(Math.abs(actual - expected) <= 1e-9, `${label}: ${actual} vs ${expected}`);

test('finiteSorted: the finite valid values in ascending order, by counting or by comparison', () => {
  const value = fc.oneof(
    fc.integer({ min: -300, max: 300 }),
    fc.integer({ min: -1e6, max: 1e6 }),
    fc.double(),
    fc.constantFrom(-0, 0, NaN, Infinity, -Infinity, 0.5),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(value, fc.boolean()), { maxLength: 400 }), (rows) => {
      const values = Float64Array.from(rows, ([v]) => v);
      const valid = Uint8Array.from(rows, ([, ok]) => (ok ? 1 : 0));
      const expected = Float64Array.from(
        rows.filter(([v, ok]) => ok && Number.isFinite(v)).map(([v]) => v),
      ).sort();
      assert.deepEqual(finiteSorted(values, valid), expected);
      assert.deepEqual(
        finiteSorted(values),
        Float64Array.from(rows.filter(([v]) => Number.isFinite(v)).map(([v]) => v)).sort(),
      );
    }),
    { numRuns: 2000 },
  );
});

test('finiteSorted of many values (radix and counting sorts) equals a plain sort; sorted bins equal binCounts', () => {
  const random = mulberry32(7);
  const cases: Record<string, () => number> = {
    'mixed magnitudes and signs': () => (random() - 0.5) * 10 ** Math.floor(random() * 40 - 20),
    'zeros of both signs and ties': () =>
      [0, -0, 1.5, -1.5, 2 ** -1074, -(2 ** 1023)][Math.floor(random() * 6)],
    'small integers': () => Math.floor(random() * 50) - 10,
    'wide integers': () => Math.floor(random() * 1e9) - 5e8,
    'fractions of a few values': () => Math.floor(random() * 8) / 7,
  };
  for (const [name, draw] of Object.entries(cases)) {
    const values = Float64Array.from({ length: 70_000 }, draw);
    const sorted = finiteSorted(values);
    assert.deepEqual(sorted, values.slice().sort(), name);
    const edges = quantileEdges(values, 10);
    assert.deepEqual(binCountsOfSorted(sorted, edges), binCounts(values, edges), name);
  }
});

describe('monitoring statistics agree with numpy/scipy to 1e-9', () => {
  for (const c of fixture.drift) {
    test(`quantile bins, PSI and KS: ${c.name}`, () => {
      const reference = Float64Array.from(c.reference);
      const live = Float64Array.from(c.live);
      const edges = quantileEdges(reference, 10);
      assert.equal(edges.length, c.edges.length, 'edges');
      edges.forEach((e, i) => close(e, c.edges[i], `edge ${i}`));
      assert.deepEqual(Array.from(binCounts(reference, edges)), c.expected);
      assert.deepEqual(Array.from(binCounts(live, edges)), c.actual);
      close(psi(c.expected, c.actual), c.psi, 'psi');
      const ks = ksTwoSample(finiteSorted(reference), finiteSorted(live));
      close(ks.statistic, c.ks.statistic, 'KS D');
      close(ks.pValue, c.ks.pValue, 'KS p');
    });
  }

  for (const c of fixture.chiSquared) {
    test(`chi-squared: ${c.name}`, () => {
      const result = chiSquared(c.observed, c.expected);
      close(result.statistic, c.statistic, 'statistic');
      close(result.pValue, c.pValue, 'p');
      assert.equal(result.dof, c.dof);
      close(result.cramersV, c.cramersV, "Cramér's V");
    });
  }

  test("Kolmogorov's distribution and the chi-squared survival function", () => {
    for (const { z, sf } of fixture.kolmogorov) close(kolmogorovSurvival(z), sf, `Q_KS(${z})`);
    for (const { x, k, sf } of fixture.chi2Survival)
      close(chiSquaredSurvival(x, k), sf, `chi2.sf(${x}, ${k})`);
  });

  test('degenerate inputs are not verdicts: empty samples give NaN, identical ones no drift', () => {
    assert.ok(Number.isNaN(ksTwoSample(new Float64Array(0), Float64Array.of(1)).pValue));
    assert.ok(Number.isNaN(chiSquared([0, 0], [1, 1]).pValue));
    const same = Float64Array.of(1, 2, 3, 4);
    assert.deepEqual(ksTwoSample(same, same), { statistic: 0, pValue: 1 });
    assert.equal(psi([5, 5], [5, 5]), 0);
  });
});
