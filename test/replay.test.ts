import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../runtime/temporal.js';

const HISTORIES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'histories');
const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));

test('committed workflow histories replay against the current workflow code (determinism)', async () => {
  assert.ok(files.length >= 2, 'histories are committed (scripts/record-histories.ts)');
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH });
  for (const file of files) {
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES, file), 'utf8')));
    // Throws DeterminismViolationError when the code no longer produces the recorded commands.
    await Worker.runReplayHistory({ workflowBundle }, history, file.replace(/\.json$/, ''));
  }
});
