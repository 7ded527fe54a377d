import { readFileSync } from 'node:fs';

/** Reference values of monitoring/stats.ts from numpy/scipy (scripts/monitoring-fixtures.py). */
export const STATS_FIXTURE = JSON.parse(
  readFileSync(new URL('../fixtures/monitoring-stats.json', import.meta.url), 'utf8'),
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
