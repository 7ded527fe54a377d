import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as index from '../feature-store/index.js';
import * as requests from '../feature-store/requests.js';

test('requests.ts, the light entry, only re-exports what index.ts exports (the very objects)', () => {
  const names = Object.keys(requests);
  assert.ok(names.length > 0);
  for (const name of names)
    assert.equal((index as Record<string, unknown>)[name], (requests as Record<string, unknown>)[name], name);
});
