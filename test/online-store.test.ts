import assert from 'node:assert/strict';
import { test } from 'node:test';
import { latestRowPerEntity } from '../feature-store/online/online-store.js';

test('latest row per entity: newest event time, ties to the later row, in entity-key order (deadlock-free upserts)', () => {
  const frame = {
    length: 6,
    entityKey: ['SFO', 'ATL', 'SFO', 'ORD', 'ATL', 'SFO'],
    eventTs: Float64Array.from([5, 1, 9, 3, 1, 9]),
    columns: {},
  };
  assert.deepEqual(Array.from(latestRowPerEntity(frame)), [4, 3, 5]);
});
