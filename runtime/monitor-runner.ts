/**
 * Running monitor windows from the CLI and tests: windows on the epoch-aligned grid of the window
 * length, each a monitorModelWorkflow under the window's deterministic ID, one after another (a
 * window's drift types and hysteresis read the windows before it).
 */
import type { Client } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_KEYS, WORKFLOW_IDS } from '../constants.js';
import type { MonitorSummary } from '../monitoring/monitor.js';
import { monitorModelWorkflow } from '../workflows/index.js';
import { resultOf, startOrAttach } from './workflow-runs.js';

/** Grid windows of `windowMs` covering [sinceMs, untilMs): the first holds sinceMs, the last ends at or after untilMs. */
export function planWindows(
  sinceMs: number,
  untilMs: number,
  windowMs: number,
): Array<{ startMs: number; endMs: number }> {
  if (!(untilMs > sinceMs)) throw new Error('monitor: --until must be after --since');
  const windows = [];
  for (let start = Math.floor(sinceMs / windowMs) * windowMs; start < untilMs; start += windowMs)
    windows.push({ startMs: start, endMs: start + windowMs });
  return windows;
}

export async function runMonitorWindow(
  deps: { temporal: Client; taskQueue: string },
  input: { model: string; startMs: number; endMs: number; asOfMs: number },
): Promise<{ workflowId: string; summary: MonitorSummary }> {
  const workflowId = WORKFLOW_IDS.monitor(input.model, input.startMs, input.endMs);
  const handle = await startOrAttach(deps.temporal, monitorModelWorkflow, {
    workflowId,
    taskQueue: deps.taskQueue,
    args: [input],
    typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }],
    memo: {
      model: input.model,
      window: `${new Date(input.startMs).toISOString()} .. ${new Date(input.endMs).toISOString()}`,
      asOf: new Date(input.asOfMs).toISOString(),
    },
  });
  return { workflowId, summary: await resultOf(handle) };
}
