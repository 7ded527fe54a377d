"""
Reference values for monitoring/stats.ts, computed with numpy and scipy, written to
test/fixtures/monitoring-stats.json (committed; the test compares to 1e-9).
Run: python3 -m venv /tmp/scipy && /tmp/scipy/bin/pip install scipy==1.14.1 numpy==2.2.6
     /tmp/scipy/bin/python scripts/monitoring-fixtures.py
"""
import json
import os

import numpy as np
from scipy import special, stats

EPSILON = 1e-4
rng = np.random.default_rng(20261206)


def quantile_edges(reference, bins):
    values = np.sort(reference[np.isfinite(reference)])
    edges = []
    for k in range(1, bins):
        edge = float(np.quantile(values, k / bins))  # numpy's default: linear interpolation
        if not edges or edge > edges[-1]:
            edges.append(edge)
    if edges and edges[-1] >= values[-1]:
        edges.pop()
    return np.array(edges)


def bin_counts(values, edges):
    values = values[np.isfinite(values)]
    return np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)


def psi(expected, actual):
    e = np.maximum(expected / expected.sum(), EPSILON)
    a = np.maximum(actual / actual.sum(), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


drift_cases = []
for name, reference, live in [
    ("same normal, small", rng.normal(0, 1, 60), rng.normal(0, 1, 40)),
    ("same normal", rng.normal(0, 1, 3000), rng.normal(0, 1, 2000)),
    ("shifted by 0.5 sd", rng.normal(0, 1, 3000), rng.normal(0.5, 1, 2500)),
    ("integers with ties", rng.integers(0, 8, 2000).astype(float), rng.integers(1, 9, 1500).astype(float)),
    ("heavy value, few edges", np.concatenate([np.zeros(900), rng.normal(5, 1, 100)]), rng.normal(0.5, 1, 700)),
    ("live beyond the range", rng.uniform(0, 1, 1000), rng.uniform(0.5, 3, 800)),
]:
    edges = quantile_edges(reference, 10)
    expected = bin_counts(reference, edges)
    actual = bin_counts(live, edges)
    ks = stats.ks_2samp(reference, live)
    en = len(reference) * len(live) / (len(reference) + len(live))
    drift_cases.append(
        {
            "name": name,
            "reference": reference.tolist(),
            "live": live.tolist(),
            "edges": edges.tolist(),
            "expected": expected.tolist(),
            "actual": actual.tolist(),
            "psi": psi(expected.astype(float), actual.astype(float)),
            "ks": {"statistic": float(ks.statistic), "pValue": float(stats.kstwobign.sf(np.sqrt(en) * ks.statistic))},
        }
    )

chi_cases = []
for name, observed, expected in [
    ("uniform, fits", [48, 52, 50, 50], [1, 1, 1, 1]),
    ("skewed", [120, 30, 30, 20], [0.4, 0.3, 0.2, 0.1]),
    ("many categories", rng.integers(80, 120, 30).tolist(), rng.uniform(0.5, 1.5, 30).tolist()),
    ("large shift", [900, 50, 50], [0.2, 0.4, 0.4]),
]:
    observed = np.array(observed, dtype=float)
    proportions = np.array(expected, dtype=float) / np.sum(expected)
    result = stats.chisquare(observed, f_exp=proportions * observed.sum())
    dof = len(observed) - 1
    chi_cases.append(
        {
            "name": name,
            "observed": observed.tolist(),
            "expected": list(map(float, expected)),
            "statistic": float(result.statistic),
            "pValue": float(result.pvalue),
            "dof": dof,
            "cramersV": float(np.sqrt(result.statistic / (observed.sum() * dof))),
        }
    )

kolmogorov = [{"z": z, "sf": float(special.kolmogorov(z))} for z in [0.05, 0.3, 0.7, 1.0, 1.17, 1.19, 1.5, 2.2, 3.5]]
chi2_sf = [
    {"x": x, "k": k, "sf": float(stats.chi2.sf(x, k))}
    for x, k in [(0.5, 1), (3.84, 1), (10.0, 3), (2.0, 7), (50.0, 29), (29.0, 29), (200.0, 150), (0.01, 4)]
]

out = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "monitoring-stats.json")
with open(out, "w") as f:
    json.dump({"drift": drift_cases, "chiSquared": chi_cases, "kolmogorov": kolmogorov, "chi2Survival": chi2_sf}, f)
print("wrote", os.path.relpath(out))
