import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  binCounts,
  chiSquared,
  chiSquaredSurvival,
  finiteSorted,
  kolmogorovSurvival,
  ksTwoSample,
  psi,
  quantileEdges,
} from '../monitoring/stats.js';

/** Reference values from numpy/scipy (scripts/monitoring-fixtures.py). */
const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/monitoring-stats.json', import.meta.url), 'utf8'),
) as {
  drift: Array<{
    name: string;
    reference: number[];
    live: number[];
    edges: number[];
    expected: number[];
    actual: number[];
    psi: number;
    ks: { statistic: number; pValue: number };
  }>;
  chiSquared: Array<{
    name: string;
    observed: number[];
    expected: number[];
    statistic: number;
    pValue: number;
    dof: number;
    cramersV: number;
  }>;
  kolmogorov: Array<{ z: number; sf: number }>;
  chi2Survival: Array<{ x: number; k: number; sf: number }>;
};

const close = (actual: number, expected: number, label: string) =>
  assert.ok(Math.abs(actual - expected) <= 1e-9, `${label}: ${actual} vs ${expected}`);

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
