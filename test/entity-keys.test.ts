import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TRPCError } from '@trpc/server';
import { tableFromIPC } from 'apache-arrow';
import fc from 'fast-check';
import { createFeatureStore, defineEntity, defineFeatureView } from '../feature-store/index.js';
import { encodeEntityKey, joinEntityKeys } from '../feature-store/definitions/entity-keys.js';
import { runTrainingSetBuild } from '../runtime/training-set-runner.js';
import { createServingMetrics } from '../serving/metrics.js';
import { createOnlineFeatures } from '../serving/online-features.js';
import { startIntegration, type Integration } from './support/integration.js';

// Tuples that the original '-' / '|' joining could not tell apart.
const TUPLES: Array<[string, string, number]> = [
  ['a-b', 'c', 1],
  ['a', 'b-c', 2],
  ['a|b', 'c', 3],
  ['a', 'b|c', 4],
  ['a\\', '-c', 5],
  ['a\\-', 'c', 6],
];
const pair = defineEntity({ name: 'pair', joinKey: 'pair' });
const left = defineEntity({ name: 'left', joinKey: 'left' });
const right = defineEntity({ name: 'right', joinKey: 'right' });
const source = { kind: 'csv' as const, path: 'pairs.csv', timestampField: 'ts' };
/** One entity keyed by two columns, and two entities of one column each. */
const pairs = defineFeatureView({
  name: 'key_pairs',
  entities: [pair],
  entityColumns: { pair: ['a', 'b'] },
  source,
  features: { x: 'float64' },
});
const sides = defineFeatureView({
  name: 'key_sides',
  entities: [left, right],
  entityColumns: { left: 'a', right: 'b' },
  source,
  features: { x: 'float64' },
});
const legacy = defineFeatureView({ ...pairs, name: 'key_legacy' });

describe('entity keys: distinct tuples are distinct keys on every path', () => {
  let env: Integration;

  before(async () => {
    env = await startIntegration();
    const csv = TUPLES.map(([a, b, x]) => `2001-01-02T10:00:00Z,"${a}","${b}",${x}`).join('\n');
    writeFileSync(path.join(env.dataRoot, 'pairs.csv'), `ts,a,b,x\n${csv}\n`);
    await env.store.apply({ entities: [pair, left, right], views: [pairs, sides, legacy] });
    // A version registered before escaping existed keeps its encoding: simulate one.
    await env.database.pool.query(
      `UPDATE kaizen.feature_view_versions SET key_encoding = 'joined' WHERE view_name = 'key_legacy'`,
    );
    for (const view of ['key_pairs', 'key_sides', 'key_legacy']) await env.materialize({ view });
  });

  after(() => env?.close());

  test('encoding is injective: no two tuples share a key (property)', () => {
    const part = fc.string({ unit: fc.constantFrom('a', '-', '|', '\\'), maxLength: 5 });
    fc.assert(
      fc.property(
        fc.array(part, { minLength: 2, maxLength: 2 }),
        fc.array(part, { minLength: 2, maxLength: 2 }),
        (x, y) => {
          const key = (t: string[]) =>
            joinEntityKeys([encodeEntityKey([t[0]], 'escaped'), encodeEntityKey([t[1]], 'escaped')]);
          const onePart = (t: string[]) => encodeEntityKey(t, 'escaped');
          const same = x[0] === y[0] && x[1] === y[1];
          return (key(x) === key(y)) === same && (onePart(x) === onePart(y)) === same;
        },
      ),
      { numRuns: 2000 },
    );
    assert.equal(encodeEntityKey(['SFO', 'LAX'], 'escaped'), 'SFO-LAX', 'plain codes read as before');
  });

  test('materialization stores one key per tuple, offline and online', async () => {
    for (const name of ['key_pairs', 'key_sides']) {
      const view = await env.store.getView(name);
      const { rows } = await env.database.pool.query(
        `SELECT count(DISTINCT entity_key) AS keys FROM kaizen_online."${view.tables.online}"`,
      );
      assert.equal(rows[0].keys, TUPLES.length, `${name}: ${TUPLES.length} entities online`);
    }
  });

  test('historical lookups and training-set spines find each tuple its own row', async () => {
    const lookup = await env.store.getHistoricalFeatures({
      entities: {
        pair: TUPLES.map(([a, b]) => [a, b]),
        left: TUPLES.map(([a]) => a),
        right: TUPLES.map(([, b]) => b),
      },
      asOf: Date.UTC(2001, 0, 3),
      features: [
        { view: 'key_pairs', feature: 'x' },
        { view: 'key_sides', feature: 'x' },
      ],
    });
    const expected = TUPLES.map(([, , x]) => x);
    assert.deepEqual(Array.from(lookup.columns.key_pairs__x.values as Float64Array), expected);
    assert.deepEqual(Array.from(lookup.columns.key_sides__x.values as Float64Array), expected);

    const spine = path.join(env.dataRoot, 'spine.csv');
    writeFileSync(
      spine,
      `ts,a,b\n${TUPLES.map(([a, b]) => `2001-01-03T00:00:00Z,"${a}","${b}"`).join('\n')}\n`,
    );
    const { manifest } = await runTrainingSetBuild(
      { temporal: env.worker.client, taskQueue: env.worker.taskQueue },
      {
        spine: {
          path: spine,
          entities: [
            { entity: 'pair', columns: ['a', 'b'] },
            { entity: 'left', columns: ['a'] },
            { entity: 'right', columns: ['b'] },
          ],
          tsColumn: 'ts',
        },
        features: [
          { view: 'key_pairs', feature: 'x' },
          { view: 'key_sides', feature: 'x' },
        ],
        out: path.join(env.dataRoot, 'pairs.arrow'),
      },
    );
    const table = tableFromIPC(readFileSync(manifest.path));
    assert.deepEqual(Array.from(table.getChild('key_pairs__x')!.toArray()), expected);
    assert.deepEqual(Array.from(table.getChild('key_sides__x')!.toArray()), expected);
  });

  test('a spine must give a multi-column entity one column per key part', async () => {
    const spine = path.join(env.dataRoot, 'joined-spine.csv');
    writeFileSync(spine, 'ts,pair\n2001-01-03T00:00:00Z,a-b-c\n');
    await assert.rejects(
      env.store.planTrainingSet({
        spine: { path: spine, entities: [{ entity: 'pair', columns: ['pair'] }], tsColumn: 'ts' },
        features: [{ view: 'key_pairs', feature: 'x' }],
        out: path.join(env.dataRoot, 'joined.arrow'),
      }),
      /invalid spine entity "pair" for key_pairs@v1: its key has 2 part\(s\), the spine gives 1 column\(s\) \(pair\)/,
    );
  });

  test('serving: tuples as arrays; a joined string for a multi-column key is refused', async () => {
    const store = createFeatureStore({ db: env.database.db, dataRoot: env.dataRoot, latestTtlMs: 1000 });
    const features = createOnlineFeatures({ store, metrics: createServingMetrics(), log: () => undefined });
    try {
      const batch = await features.get(
        ['key_pairs:x', 'key_sides:x'],
        TUPLES.map(([a, b]) => ({ pair: [a, b], left: a, right: b })),
      );
      const expected = TUPLES.map(([, , x]) => x);
      assert.deepEqual(Array.from(batch.columns.key_pairs__x.values as Float64Array), expected);
      assert.deepEqual(Array.from(batch.columns.key_sides__x.values as Float64Array), expected);
      await assert.rejects(features.get(['key_pairs:x'], [{ pair: 'a-b-c' }]), (error: unknown) => {
        assert.ok(error instanceof TRPCError && error.code === 'BAD_REQUEST', String(error));
        assert.match(
          error.message,
          /key "pair" of entity "pair" has 2 part\(s\), got 1 \(pass the parts as an array\)/,
        );
        return true;
      });

      // A version written with the original joining reads as it was written: its colliding tuples share one row.
      const old = await features.get(['key_legacy:x'], [{ pair: 'a-b-c' }, { pair: ['a', 'b-c'] }]);
      assert.deepEqual(Array.from(old.columns.key_legacy__x.values as Float64Array), [2, 2]);
    } finally {
      await features.close();
    }
  });
});
