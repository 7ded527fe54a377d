import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { WORKFLOW_IDS } from '../constants.js';
import type { MonitorSummary } from '../monitoring/monitor.js';
import { WORKFLOWS_PATH } from '../runtime/temporal.js';
import * as workflows from '../workflows/index.js';
import type {
  AlertResponseResult,
  RepromoteResult,
  RetrainResult,
  TrainingPipelineResult,
} from '../workflows/index.js';

const HISTORIES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'histories');
const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));

interface Payloads {
  payloads: Array<{ data: string }>;
}

interface HistoryEvent {
  eventType: string;
  workflowExecutionStartedEventAttributes?: {
    workflowType: { name: string };
    input?: Payloads;
    /** The run's own ID (recent servers record it; files may be named otherwise). */
    workflowId?: string;
  };
  activityTaskScheduledEventAttributes?: { activityType: { name: string } };
  activityTaskCompletedEventAttributes?: { result: Payloads };
  startChildWorkflowExecutionInitiatedEventAttributes?: {
    workflowId: string;
    workflowType: { name: string };
  };
  workflowExecutionCompletedEventAttributes?: { result: Payloads };
}

const eventsOf = (name: string): HistoryEvent[] =>
  JSON.parse(readFileSync(path.join(HISTORIES, `${name}.json`), 'utf8')).events;

const decode = (payloads: Payloads) =>
  payloads.payloads.map((p) => JSON.parse(Buffer.from(p.data, 'base64').toString('utf8')));

/** The workflow's recorded result (JSON payload of its completion event). */
function resultOf<T = TrainingPipelineResult>(name: string): T {
  const completed = eventsOf(name).find((e) => e.workflowExecutionCompletedEventAttributes);
  assert.ok(completed, `${name} completed`);
  return decode(completed.workflowExecutionCompletedEventAttributes!.result)[0];
}

/** The workflow type and first argument of a recorded run (its WorkflowExecutionStarted event). */
function startOf<T = unknown>(name: string): { type: string; input: T } {
  const started = eventsOf(name)[0].workflowExecutionStartedEventAttributes;
  assert.ok(started, `${name} starts with WorkflowExecutionStarted`);
  return { type: started.workflowType.name, input: started.input ? decode(started.input)[0] : undefined };
}

const activitiesOf = (name: string) =>
  eventsOf(name).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType.name ?? []);

/** The child workflows a run started: `<type> <workflow ID>`. */
const childrenOf = (name: string) =>
  eventsOf(name).flatMap((e) => {
    const child = e.startChildWorkflowExecutionInitiatedEventAttributes;
    return child ? [{ type: child.workflowType.name, id: child.workflowId }] : [];
  });

/**
 * Exported workflows without a committed history, each with why it cannot be recorded. Empty: every
 * workflow is recorded by scripts/record-histories.ts.
 */
const UNRECORDED_WORKFLOWS: Record<string, string> = {};

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
      const name = file.replace(/\.json$/, '');
      const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES, file), 'utf8')));
      // Replayed under its recorded ID: workflows derive their children's IDs from their own.
      const workflowId = eventsOf(name)[0].workflowExecutionStartedEventAttributes?.workflowId ?? name;
      // Throws DeterminismViolationError when the code no longer produces the recorded commands.
      await Worker.runReplayHistory({ workflowBundle }, history, workflowId).catch((error: Error) => {
        throw new Error(`${file} no longer replays: ${error.message}`, { cause: error });
      });
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

  test('cover every exported workflow (at least one history each)', () => {
    const exported = Object.entries(workflows)
      .filter(([, value]) => typeof value === 'function')
      .map(([name]) => name)
      .sort();
    const recorded = new Set(files.map((f) => startOf(f.replace(/\.json$/, '')).type));
    assert.ok(exported.includes('retrainWorkflow'), exported.join(', '));
    const missing = exported.filter((name) => !recorded.has(name) && !(name in UNRECORDED_WORKFLOWS));
    assert.deepEqual(missing, [], 'record them in scripts/record-histories.ts (or list why not)');
    const stale = [...recorded].filter((type) => !exported.includes(type));
    assert.deepEqual(stale, [], 'histories of workflows that are no longer exported');
    for (const name of Object.keys(UNRECORDED_WORKFLOWS))
      assert.ok(!recorded.has(name), `${name} has a history now: remove it from UNRECORDED_WORKFLOWS`);
  });

  test("cover a manual retraining whose child pipeline promotes the model's first version", () => {
    const { type, input } = startOf<workflows.RetrainInput>('retrain-history');
    assert.equal(type, 'retrainWorkflow');
    const workflowId = WORKFLOW_IDS.retrain(input.model, input.asOfMs);
    assert.deepEqual(childrenOf('retrain-history'), [
      { type: 'trainingPipelineWorkflow', id: `${workflowId}:pipeline` },
    ]);
    const result = resultOf<RetrainResult>('retrain-history');
    assert.equal(result.trigger, 'manual');
    assert.equal(result.pipeline.status, 'promoted', result.pipeline.reasons.join('; '));
    assert.equal(result.pipeline.version, 1);
    assert.equal(result.pipeline.evaluation.championVersion, null, 'no champion before it');
    assert.deepEqual(activitiesOf('retrain-history'), ['planRetraining', 'finishRetraining']);
  });

  test('cover a scheduled training as of an explicit time: a retrain: child under that time', () => {
    const { type, input } = startOf<{ model: string; asOfMs: number }>('scheduled-train-history');
    assert.equal(type, 'scheduledTrainWorkflow');
    assert.ok(Number.isFinite(input.asOfMs), 'started with asOfMs');
    const children = childrenOf('scheduled-train-history');
    assert.deepEqual(children, [
      { type: 'retrainWorkflow', id: WORKFLOW_IDS.retrain(input.model, input.asOfMs) },
    ]);
    assert.match(children[0].id, /^retrain:/);
    const result = resultOf<RetrainResult>('scheduled-train-history');
    assert.deepEqual([result.trigger, result.asOfMs], ['schedule', input.asOfMs]);
  });

  test('cover a scheduled monitor run: its windows side by side, one answer to their alerts', () => {
    const { type, input } = startOf<workflows.ScheduledMonitorInput>('scheduled-monitor-history');
    assert.equal(type, 'scheduledMonitorWorkflow');
    const summaries = resultOf<MonitorSummary[]>('scheduled-monitor-history');
    const response = WORKFLOW_IDS.alertResponse(input.model);
    assert.deepEqual(childrenOf('scheduled-monitor-history'), [
      ...summaries.map((s) => ({
        type: 'monitorModelWorkflow',
        id: WORKFLOW_IDS.monitor(input.model, s.startMs, s.endMs),
      })),
      { type: 'respondToAlertsWorkflow', id: response },
    ]);
    assert.ok(summaries.every((s) => s.asOfMs === input.asOfMs));
    const alerted = summaries.filter((s) => s.alerts.length > 0);
    assert.equal(alerted.length, 1, 'one window alerts');
    // The window that alerted is recorded on its own; it leaves the answer to the scheduled run.
    const { response: _answer, ...window } = alerted[0];
    assert.deepEqual(resultOf<MonitorSummary>('monitor-model-alerted'), window);
    assert.equal(startOf('monitor-model-alerted').type, 'monitorModelWorkflow');
    assert.ok(alerted[0].alerts.some((a) => a.kind === 'performance' && a.subject === ''));
    assert.deepEqual(childrenOf('monitor-model-alerted'), []);
    assert.deepEqual(summaries.at(-1)!.response, { workflowId: response });
    assert.ok(activitiesOf('monitor-model-alerted').includes('ingestLabelChunk'));
  });

  test('cover an alert response that re-promotes an earlier version, without retraining', () => {
    const { type, input } = startOf<workflows.AlertResponseInput>('respond-to-alerts-repromoted');
    assert.equal(type, 'respondToAlertsWorkflow');
    const children = childrenOf('respond-to-alerts-repromoted');
    assert.deepEqual(
      children.map((c) => c.type),
      ['repromoteWorkflow'],
      'a re-promotion, no retraining',
    );
    const result = resultOf<AlertResponseResult>('respond-to-alerts-repromoted');
    assert.equal(result.retraining, null);
    assert.ok(result.repromotion?.promoted, JSON.stringify(result.reasons));
    assert.ok(activitiesOf('respond-to-alerts-repromoted').includes('consumeAlerts'));
    // The re-promotion itself, recorded under its own file.
    assert.equal(startOf('repromote-history').type, 'repromoteWorkflow');
    assert.equal(children[0].id.startsWith(`repromote:${input.model}:`), true, children[0].id);
    const repromotion = resultOf<RepromoteResult>('repromote-history');
    assert.deepEqual(repromotion, result.repromotion);
    assert.equal(repromotion.promoted, 1);
    assert.equal(repromotion.outcome?.winner?.version, repromotion.promoted);
    assert.ok(repromotion.promoted < repromotion.outcome!.champion!, 'an earlier version than the champion');
    assert.deepEqual(
      childrenOf('repromote-history').map((c) => c.type),
      ['buildTrainingSetWorkflow'],
      'the holdout of the alerting window',
    );
    const activities = activitiesOf('repromote-history');
    assert.ok(
      activities.indexOf('promoteChampion') > activities.indexOf('evaluateEarlierVersions'),
      `promoted after the evaluation: ${activities.join(', ')}`,
    );
  });

  test('cover an alert response where no earlier version beats the champion: a retraining', () => {
    const { type, input } = startOf<workflows.AlertResponseInput>('respond-to-alerts-retrained');
    assert.equal(type, 'respondToAlertsWorkflow');
    const children = childrenOf('respond-to-alerts-retrained');
    assert.deepEqual(
      children.map((c) => c.type),
      ['repromoteWorkflow', 'retrainWorkflow'],
    );
    assert.equal(children[1].id, WORKFLOW_IDS.retrain(input.model, input.asOfMs));
    const result = resultOf<AlertResponseResult>('respond-to-alerts-retrained');
    assert.equal(result.repromotion?.promoted, null);
    assert.ok(result.repromotion?.outcome?.candidates.length, 'earlier versions were evaluated');
    assert.ok(result.retraining, JSON.stringify(result.reasons));
    assert.equal(result.retraining.trigger, 'alert');
    assert.ok(activitiesOf('respond-to-alerts-retrained').includes('consumeAlerts'));
  });

  test('cover a logged batch scoring', () => {
    assert.equal(startOf('batch-score-history').type, 'batchScoreWorkflow');
    const result = resultOf<workflows.BatchScoreResult>('batch-score-history');
    assert.equal(result.logged, true);
    assert.ok(result.rows > 0);
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
