import { Context } from '@temporalio/activity';
import { asActivityFailure } from './errors.js';

const HEARTBEAT_INTERVAL_MS = 5_000;

/**
 * Runs activity work with a heartbeat on a timer (while the event loop is free) carrying the latest
 * progress, so the Temporal UI shows where it is and a dead worker is noticed within the timeout.
 */
export async function withHeartbeat<T>(
  work: (report: (progress: Record<string, unknown>) => void, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const ctx = Context.current();
  let progress: Record<string, unknown> = { phase: 'start', attempt: ctx.info.attempt };
  const timer = setInterval(() => ctx.heartbeat(progress), HEARTBEAT_INTERVAL_MS);
  try {
    return await work((next) => {
      progress = { ...next, attempt: ctx.info.attempt };
      ctx.heartbeat(progress);
    }, ctx.cancellationSignal);
  } finally {
    clearInterval(timer);
  }
}

/**
 * An activity from `(input, report, signal) => work`: heartbeats its progress (withHeartbeat), gets
 * the activity's cancellation signal, and turns failures a retry cannot fix into non-retryable ones
 * (asActivityFailure).
 */
export function heartbeatingActivity<A, R>(
  work: (input: A, report: (progress: Record<string, unknown>) => void, signal: AbortSignal) => Promise<R>,
): (input: A) => Promise<R> {
  return async (input) => {
    try {
      return await withHeartbeat((report, signal) => work(input, report, signal));
    } catch (error) {
      throw asActivityFailure(error);
    }
  };
}
