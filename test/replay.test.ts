import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../runtime/temporal.js';
import type { TrainingPipelineResult } from '../workflows/index.js';

const HISTORIES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'histories');
const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));

interface HistoryEvent {
  eventType: string;
  activityTaskScheduledEventAttributes?: { activityType: { name: string } };
  activityTaskCompletedEventAttributes?: { result: { payloads: Array<{ data: string }> } };
  startChildWorkflowExecutionInitiatedEventAttributes?: { workflowId: string };
  workflowExecutionCompletedEventAttributes?: { result: { payloads: Array<{ data: string }> } };
}

const eventsOf = (name: string): HistoryEvent[] =>
  JSON.parse(readFileSync(path.join(HISTORIES, `${name}.json`), 'utf8')).events;

/** The workflow's recorded result (JSON payload of its completion event). */
function resultOf(name: string): TrainingPipelineResult {
  const completed = eventsOf(name).find((e) => e.workflowExecutionCompletedEventAttributes);
  assert.ok(completed, `${name} completed`);
  const [payload] = completed.workflowExecutionCompletedEventAttributes!.result.payloads;
  return JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8'));
}

const activitiesOf = (name: string) =>
  eventsOf(name).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType.name ?? []);

/** Each branch of the training pipeline, as recorded by scripts/record-histories.ts. */
const PIPELINE_BRANCHES = [
  { history: 'training-pipeline-promoted', status: 'promoted', reasons: [], decided: 'promoteChampion' },
  {
    history: 'training-pipeline-rejected',
    status: 'rejected',
    reasons: [/is below the minimum 1\.000$/, /below the champion's .*; allowed drop 0\.01$/],
    decided: 'recordRejection',
  },
  {
    history: 'training-pipeline-approval-timeout',
    status: 'rejected',
    reasons: [/^no approval within 2 seconds$/],
    decided: 'recordRejection',
  },
  {
    history: 'training-pipeline-conflict',
    status: 'conflict',
    reasons: [/^alias delays:champion changed meanwhile: it is v2, expected v1$/],
    decided: 'recordRejection',
  },
] as const;

describe('committed workflow histories', () => {
  test('replay against the current workflow code (determinism)', async () => {
    const workflowBundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH });
    for (const file of files) {
      const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES, file), 'utf8')));
      // Throws DeterminismViolationError when the code no longer produces the recorded commands.
      await Worker.runReplayHistory({ workflowBundle }, history, file.replace(/\.json$/, ''));
    }
  });

  test('cover the incremental schedule revising a stale chunk behind a due one', () => {
    const events = eventsOf('scheduled-materialize-history');
    const planned = events.find((e) => e.activityTaskCompletedEventAttributes);
    const [payload] = planned!.activityTaskCompletedEventAttributes!.result.payloads;
    const plan = JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8'));
    assert.deepEqual([plan.chunks.length, plan.stale], [2, 1], 'one stale chunk, one due, not adjacent');
    const children = events.flatMap((e) => e.startChildWorkflowExecutionInitiatedEventAttributes ?? []);
    assert.deepEqual(
      children.map((c) => c.workflowId),
      ['materialize:late_delays@v1:2000-12-21T00:00:00.000Z:2001-01-11T00:00:00.000Z'],
      'one child, under the span of its chunks',
    );
  });

  for (const branch of PIPELINE_BRANCHES) {
    test(`cover the training pipeline's "${branch.history.replace('training-pipeline-', '')}" branch`, () => {
      const result = resultOf(branch.history);
      assert.equal(result.status, branch.status);
      assert.equal(result.reasons.length, branch.reasons.length, result.reasons.join('; '));
      branch.reasons.forEach((pattern, i) => assert.match(result.reasons[i], pattern));
      const activities = activitiesOf(branch.history);
      assert.ok(activities.includes('evaluateChallenger'), activities.join(', '));
      assert.equal(
        activities.at(-1),
        branch.decided,
        `the decision is recorded last: ${activities.join(', ')}`,
      );
    });
  }
});
