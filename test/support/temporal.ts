import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities/index.js';
import { WorkflowRunError } from '../../runtime/workflow-runs.js';
import { WORKFLOWS_PATH } from '../../runtime/temporal.js';

export interface TestWorker {
  client: Client;
  taskQueue: string;
  shutdown(): Promise<void>;
}

function temporalAddress(): string {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: run tests with `make test`');
  return address;
}

let bundle: Promise<{ code: string }> | undefined;

/** A real worker on a fresh task queue of the test Temporal server, with activities over real deps. */
export async function startTestWorker(deps: ActivityDeps): Promise<TestWorker> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined });
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const taskQueue = `test-${randomUUID()}`;
  const nativeConnection = await NativeConnection.connect({ address: temporalAddress() });
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace,
    taskQueue,
    workflowBundle: await bundle,
    activities: createActivities(deps),
  });
  const running = worker.run();
  const connection = await Connection.connect({ address: temporalAddress() });
  return {
    client: new Client({ connection, namespace }),
    taskQueue,
    async shutdown() {
      worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
    },
  };
}

/** The workflow run fails, and its root cause (the activity failure behind it) says `pattern`. */
export async function assertWorkflowFails(run: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof WorkflowRunError, String(error));
    assert.ok(error.cause instanceof WorkflowFailedError, String(error.cause));
    assert.match(error.rootCause, pattern);
    return true;
  });
}
