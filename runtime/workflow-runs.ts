/**
 * Starting workflows under deterministic IDs and waiting for them, for every runner: the same
 * request attaches to the run in flight instead of failing, and a failed run's error says why
 * (its root cause — the activity's own message), not only that it failed.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowStartOptions,
} from '@temporalio/client';
import type { Workflow, WorkflowResultType } from '@temporalio/common';

/**
 * Starts `workflow` (a workflow function, or its name) under `options.workflowId`, or attaches to the
 * run already in flight under it.
 */
export async function startOrAttach<T extends Workflow>(
  temporal: Client,
  workflow: T | string,
  options: WorkflowStartOptions<T>,
): Promise<WorkflowHandle<T>> {
  try {
    return await temporal.workflow.start(workflow, options);
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    return temporal.workflow.getHandle<T>(options.workflowId);
  }
}

/** A workflow run that failed; the message is its root cause, then the workflow ID to look it up by. */
export class WorkflowRunError extends Error {
  override name = 'WorkflowRunError';
  constructor(
    readonly workflowId: string,
    readonly rootCause: string,
    options: { cause: unknown },
  ) {
    super(`${rootCause} (workflow ${workflowId})`, options);
  }
}

/** The deepest cause of a failure: what an activity (or a child workflow's activity) threw. */
export function rootCauseOf(error: Error): string {
  let cause: Error = error;
  while (cause.cause instanceof Error) cause = cause.cause;
  return cause.message;
}

/** The run's result; a failed run is a WorkflowRunError naming the root cause. */
export async function resultOf<T extends Workflow>(
  handle: WorkflowHandle<T>,
): Promise<WorkflowResultType<T>> {
  try {
    return await handle.result();
  } catch (error) {
    if (error instanceof WorkflowFailedError)
      throw new WorkflowRunError(handle.workflowId, rootCauseOf(error), { cause: error });
    throw error;
  }
}
