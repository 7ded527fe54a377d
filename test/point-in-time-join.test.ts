import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  asOfMatch,
  asOfMatchCodes,
  buildPointInTimeIndex,
  gatherColumn,
  type FeatureRows,
} from '../feature-store/point-in-time/join.js';
import type { Column, FeatureType } from '../feature-store/definitions/types.js';

const RUNS = { numRuns: 250 };

/** Keys are opaque strings: multi-column and multi-entity keys included. */
const KEYS = ['SFO', 'LAX', 'SFO-LAX', 'a|b', 'a', ''];

interface Row {
  key: string;
  ev: number;
  cr: number;
}

interface SpineRow {
  key: string | null;
  ts: number;
}

/**
 * Brute-force reference, the contract read literally: scan every row of the view; keep rows of the
 * same entity with ts - ttl <= event_ts <= ts; the best has the greatest event_ts, then created_ts,
 * then the latest position (ingestion order).
 */
function referenceMatch(rows: Row[], spine: SpineRow, ttl?: number): number {
  if (spine.key === null || Number.isNaN(spine.ts)) return -1;
  let best = -1;
  for (let r = 0; r < rows.length; r++) {
    const { key, ev, cr } = rows[r];
    if (key !== spine.key || ev > spine.ts || (ttl !== undefined && ev < spine.ts - ttl)) continue;
    const b = rows[best];
    if (best < 0 || ev > b.ev || (ev === b.ev && cr >= b.cr)) best = r;
  }
  return best;
}

/**
 * Columnar FeatureRows for `rows`. With `duplicateKey`, one key also appears a second time in the
 * dictionary and every other row of it uses that second code: an entity is its string, not its code.
 */
function featureRows(rows: Row[], duplicateKey = false): FeatureRows {
  const keys = [...new Set(rows.map((r) => r.key))];
  const dup = duplicateKey && keys.length > 0 ? keys.push(keys[0]) - 1 : -1;
  return {
    length: rows.length,
    keys,
    keyCodes: Int32Array.from(rows, (r, i) =>
      dup >= 0 && r.key === keys[0] && i % 2 === 1 ? dup : keys.indexOf(r.key),
    ),
    eventTs: Float64Array.from(rows, (r) => r.ev),
    createdTs: Float64Array.from(rows, (r) => r.cr),
    columns: {},
  };
}

/**
 * Matches by both entry points (string keys and dictionary codes), which must agree, and again with
 * the spine in time order (NaN rows first), which takes the engine's time-ordered path.
 */
function engineMatch(rows: FeatureRows, spine: SpineRow[], ttl?: number): number[] {
  const index = buildPointInTimeIndex(rows);
  const match = (s: SpineRow[]) => {
    const ts = Float64Array.from(s, (r) => r.ts);
    const byKey = asOfMatch(
      index,
      s.map((r) => r.key),
      ts,
      ttl,
    );
    const dict = [...new Set(s.flatMap((r) => (r.key === null ? [] : [r.key])))];
    const codes = Int32Array.from(s, (r) => (r.key === null ? -1 : dict.indexOf(r.key)));
    assert.deepEqual([...asOfMatchCodes(index, dict, codes, ts, ttl)], [...byKey], 'codes differ from keys');
    return [...byKey];
  };
  const got = match(spine);
  const positions = spine.map((_, i) => i);
  const timeOrder = [
    ...positions.filter((i) => Number.isNaN(spine[i].ts)),
    ...positions.filter((i) => !Number.isNaN(spine[i].ts)).sort((a, b) => spine[a].ts - spine[b].ts),
  ];
  assert.deepEqual(
    match(timeOrder.map((i) => spine[i])),
    timeOrder.map((i) => got[i]),
    'time-ordered spine differs',
  );
  return got;
}

// Small integer times so that ties on event_ts and on (event_ts, created_ts) are frequent.
const rowArb = fc.record({
  key: fc.constantFrom(...KEYS),
  ev: fc.integer({ min: 0, max: 12 }),
  cr: fc.integer({ min: 0, max: 2 }),
});
const ttlArb = fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined });
const randomSpineArb = fc.array(
  fc.record({
    key: fc.constantFrom<string | null>(...KEYS, 'MISSING', 'SFO-', null),
    ts: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: -2, max: 20 }) }, fc.constant(NaN)),
  }),
  { maxLength: 30 },
);

/**
 * Feature rows as materialization chunks commit them: time-sorted runs (chunks) concatenated in any
 * order; or plain random order.
 */
const rowsArb = fc.oneof(
  fc.array(rowArb, { maxLength: 40 }),
  fc
    .tuple(fc.array(rowArb, { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), fc.nat())
    .map(([rows, chunks, seed]) => {
      const sorted = [...rows].sort((a, b) => a.ev - b.ev);
      const size = Math.ceil(sorted.length / chunks);
      const parts = Array.from({ length: chunks }, (_, c) => sorted.slice(c * size, (c + 1) * size));
      // Rotate and reverse chunk order by the seed: out-of-order commits.
      const order = parts.map((_, c) => (c + seed) % chunks);
      if (seed % 2 === 1) order.reverse();
      return order.flatMap((c) => parts[c]);
    }),
);

/** Spine rows placed on the bounds of every feature row: exactly at event_ts, and at event_ts + ttl. */
function boundarySpine(rows: Row[], ttl: number | undefined): SpineRow[] {
  return rows.flatMap((r) => [
    { key: r.key, ts: r.ev },
    { key: r.key, ts: r.ev - 1 },
    ...(ttl === undefined
      ? []
      : [
          { key: r.key, ts: r.ev + ttl },
          { key: r.key, ts: r.ev + ttl + 1 },
        ]),
  ]);
}

/** Spine arbitrary: random rows, boundary rows and duplicates, shuffled. */
function spineArb(rows: Row[], ttl: number | undefined): fc.Arbitrary<SpineRow[]> {
  return fc
    .tuple(randomSpineArb, fc.subarray(boundarySpine(rows, ttl)), fc.nat())
    .chain(([random, boundary, dups]) => {
      const all = [...random, ...boundary];
      const duplicated = all.length === 0 ? all : [...all, all[dups % all.length], all[dups % all.length]];
      return fc.shuffledSubarray(duplicated, { minLength: duplicated.length });
    });
}

const caseArb = fc
  .tuple(rowsArb, ttlArb, fc.boolean())
  .chain(([rows, ttl, duplicateKey]) =>
    spineArb(rows, ttl).map((spine) => ({ rows, ttl, duplicateKey, spine })),
  );

describe('point-in-time join: properties against the brute-force reference', () => {
  test('matches the reference for every spine row (ties, bounds, duplicates, missing keys)', () => {
    fc.assert(
      fc.property(caseArb, ({ rows, ttl, duplicateKey, spine }) => {
        const got = engineMatch(featureRows(rows, duplicateKey), spine, ttl);
        assert.deepEqual(
          got,
          spine.map((s) => referenceMatch(rows, s, ttl)),
        );
      }),
      RUNS,
    );
  });

  test('boundary spine rows at ts = event_ts and ts - ttl = event_ts are included', () => {
    fc.assert(
      fc.property(
        fc.array(rowArb, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 6 }),
        (rows, ttl) => {
          const spine = boundarySpine(rows, ttl);
          const got = engineMatch(featureRows(rows), spine, ttl);
          assert.deepEqual(
            got,
            spine.map((s) => referenceMatch(rows, s, ttl)),
          );
          // Both bounds are inclusive: the row itself qualifies at ts = event_ts (spine row 4k) and at
          // ts - ttl = event_ts (spine row 4k + 2), so something must match there.
          rows.forEach((_, k) => {
            assert.notEqual(got[4 * k], -1, `nothing at ts = event_ts of row ${k}`);
            assert.notEqual(got[4 * k + 2], -1, `nothing at ts - ttl = event_ts of row ${k}`);
          });
        },
      ),
      RUNS,
    );
  });

  test('epoch-millisecond times on a 15-minute grid: bounds stay exact', () => {
    const base = Date.UTC(2024, 0, 1);
    const step = 15 * 60_000;
    fc.assert(
      fc.property(caseArb, ({ rows, ttl, spine }) => {
        const scale = (t: number) => (Number.isNaN(t) ? t : base + t * step);
        const scaledRows = rows.map((r) => ({ ...r, ev: scale(r.ev), cr: base + r.cr }));
        const scaledSpine = spine.map((s) => ({ ...s, ts: scale(s.ts) }));
        const scaledTtl = ttl === undefined ? undefined : ttl * step;
        assert.deepEqual(
          engineMatch(featureRows(scaledRows), scaledSpine, scaledTtl),
          spine.map((s) => referenceMatch(rows, s, ttl)),
        );
      }),
      RUNS,
    );
  });

  test('spine order and count are preserved: a permuted spine permutes the matches', () => {
    fc.assert(
      fc.property(caseArb, fc.nat(), ({ rows, ttl, spine }, seed) => {
        const got = engineMatch(featureRows(rows), spine, ttl);
        assert.equal(got.length, spine.length);
        const perm = spine
          .map((_, i) => i)
          .sort((a, b) => ((a * 7919 + seed) % 101) - ((b * 7919 + seed) % 101));
        assert.deepEqual(
          engineMatch(
            featureRows(rows),
            perm.map((i) => spine[i]),
            ttl,
          ),
          perm.map((i) => got[i]),
        );
      }),
      RUNS,
    );
  });

  test('several views with different TTLs, each joined by its own index', () => {
    const viewArb = fc.record({ rows: rowsArb, ttl: ttlArb });
    fc.assert(
      fc.property(fc.array(viewArb, { minLength: 2, maxLength: 3 }), randomSpineArb, (views, spine) => {
        const indexes = views.map((v) => buildPointInTimeIndex(featureRows(v.rows)));
        const keys = spine.map((s) => s.key);
        const ts = Float64Array.from(spine, (s) => s.ts);
        views.forEach((v, k) => {
          assert.deepEqual(
            [...asOfMatch(indexes[k], keys, ts, v.ttl)],
            spine.map((s) => referenceMatch(v.rows, s, v.ttl)),
          );
        });
      }),
      RUNS,
    );
  });

  test('no leakage: a matched row has the spine key and event_ts in [ts - ttl, ts]', () => {
    fc.assert(
      fc.property(caseArb, ({ rows, ttl, duplicateKey, spine }) => {
        const got = engineMatch(featureRows(rows, duplicateKey), spine, ttl);
        got.forEach((r, i) => {
          if (r < 0) return;
          assert.equal(rows[r].key, spine[i].key);
          assert.ok(rows[r].ev <= spine[i].ts, 'value from the future');
          if (ttl !== undefined) assert.ok(rows[r].ev >= spine[i].ts - ttl, 'value older than ttl');
        });
      }),
      RUNS,
    );
  });
});

describe('point-in-time join: examples', () => {
  test('ties: created_ts, then the row ingested last; null key and NaN ts match nothing', () => {
    const rows: Row[] = [
      { key: 'SFO', ev: 10, cr: 5 },
      { key: 'SFO', ev: 10, cr: 7 },
      { key: 'SFO', ev: 10, cr: 7 },
      { key: 'SFO', ev: 10, cr: 6 },
      { key: 'SFO', ev: 20, cr: 0 },
    ];
    const spine: SpineRow[] = [
      { key: 'SFO', ts: 10 },
      { key: 'SFO', ts: 19 },
      { key: 'SFO', ts: 20 },
      { key: 'SFO', ts: 9 },
      { key: null, ts: 20 },
      { key: 'SFO', ts: NaN },
      { key: 'LAX', ts: 20 },
    ];
    assert.deepEqual(engineMatch(featureRows(rows), spine), [2, 2, 4, -1, -1, -1, -1]);
    assert.deepEqual(engineMatch(featureRows(rows), spine, 9), [2, 2, 4, -1, -1, -1, -1]);
    assert.deepEqual(engineMatch(featureRows(rows), spine, 0), [2, -1, 4, -1, -1, -1, -1]);
  });

  test('rejects a negative ttl and mismatched spine lengths', () => {
    const index = buildPointInTimeIndex(featureRows([{ key: 'a', ev: 1, cr: 1 }]));
    assert.throws(() => asOfMatch(index, ['a'], new Float64Array([1]), -1), RangeError);
    assert.throws(() => asOfMatch(index, ['a', 'a'], new Float64Array([1])), RangeError);
  });
});

describe('gatherColumn', () => {
  const matches = Int32Array.from([2, -1, 0, 1, 2]);
  const valid = Uint8Array.from([1, 0, 1]);
  const cases: Record<FeatureType, { column: Column; expect: unknown[] }> = {
    int64: {
      column: { type: 'int64', values: Float64Array.from([7, 0, -3]), valid },
      expect: [-3, null, 7, null, -3],
    },
    float64: {
      column: { type: 'float64', values: Float64Array.from([0.5, 0, 2.5]), valid },
      expect: [2.5, null, 0.5, null, 2.5],
    },
    bool: {
      column: { type: 'bool', values: Uint8Array.from([1, 0, 0]), valid },
      expect: [0, null, 1, null, 0],
    },
    string: {
      column: { type: 'string', values: ['x', null, 'z'], valid },
      expect: ['z', null, 'x', null, 'z'],
    },
    timestamp: {
      column: { type: 'timestamp', values: Float64Array.from([1.7e12, 0, 1.8e12]), valid },
      expect: [1.8e12, null, 1.7e12, null, 1.8e12],
    },
  };
  for (const [type, { column, expect }] of Object.entries(cases)) {
    test(`${type}: gathers values; -1 and null source rows give null`, () => {
      const out = gatherColumn(column, matches);
      assert.equal(out.type, type);
      assert.equal(out.values.constructor, column.values.constructor);
      assert.deepEqual(
        Array.from(out.valid, (v, i) => (v === 1 ? out.values[i] : null)),
        expect,
      );
      assert.deepEqual([...out.valid], [1, 0, 1, 0, 1]);
    });
  }
});

/** Deterministic PRNG (mulberry32), so the scale test is reproducible. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('scale: 1M rows, 200 entities, out-of-order chunks; a sample agrees with the reference', () => {
  const rand = random(42);
  const entities = 200;
  const step = 15 * 60_000;
  const base = Date.UTC(2024, 0, 1);
  const n = 1_000_000;
  const slots = n / entities;
  const chunks = 10;
  const keyCodes = new Int32Array(n);
  const eventTs = new Float64Array(n);
  const createdTs = new Float64Array(n);
  // Chunks of time committed in shuffled order; within a chunk, time-sorted with some duplicates.
  const chunkOrder = [3, 0, 1, 2, 7, 4, 9, 5, 6, 8];
  let i = 0;
  for (const c of chunkOrder) {
    for (let s = (c * slots) / chunks; s < ((c + 1) * slots) / chunks; s++) {
      for (let e = 0; e < entities; e++, i++) {
        keyCodes[i] = e;
        eventTs[i] = base + (rand() < 0.1 ? s - 1 : s) * step;
        createdTs[i] = base + Math.floor(rand() * 3);
      }
    }
  }
  const keys = Array.from({ length: entities }, (_, e) => `K${e}`);
  const rows: FeatureRows = { length: n, keys, keyCodes, eventTs, createdTs, columns: {} };
  const index = buildPointInTimeIndex(rows);

  const m = 200_000;
  const spineCodes = Int32Array.from({ length: m }, () => Math.floor(rand() * (entities + 5)) - 2);
  const spineDict = [...keys, 'X1', 'X2', 'X3'];
  const spineTs = Float64Array.from(
    { length: m },
    () => base + Math.floor(rand() * (slots + 4) * 3 - 6) * (step / 3),
  );
  const ttl = 2 * step;
  const matched = asOfMatchCodes(index, spineDict, spineCodes, spineTs, ttl);
  assert.ok(
    matched.some((r) => r >= 0),
    'nothing matched',
  );

  const rowsOf = keys.map(() => [] as number[]);
  for (let r = 0; r < n; r++) rowsOf[keyCodes[r]].push(r);
  for (let j = 0; j < m; j += 97) {
    const code = spineCodes[j];
    let best = -1;
    for (const r of code >= 0 && code < entities ? rowsOf[code] : []) {
      if (eventTs[r] > spineTs[j] || eventTs[r] < spineTs[j] - ttl) continue;
      const better =
        best < 0 ||
        eventTs[r] > eventTs[best] ||
        (eventTs[r] === eventTs[best] && createdTs[r] >= createdTs[best]);
      if (better) best = r;
    }
    assert.equal(matched[j], best, `spine row ${j}`);
  }

  // The same spine in time order takes the engine's time-ordered path: same match for every row.
  const order = Uint32Array.from({ length: m }, (_, j) => j).sort((a, b) => spineTs[a] - spineTs[b]);
  const inOrder = asOfMatchCodes(
    index,
    spineDict,
    Int32Array.from(order, (j) => spineCodes[j]),
    Float64Array.from(order, (j) => spineTs[j]),
    ttl,
  );
  const mismatch = order.findIndex((j, k) => inOrder[k] !== matched[j]);
  assert.equal(mismatch, -1, `time-ordered spine differs at row ${order[mismatch]}`);
});
