import type { Client } from '@temporalio/client';
import { MATERIALIZATION, materializationVisibility, WORKFLOW_IDS } from '../constants.js';
import { planChunks, type FeatureStore } from '../feature-store/index.js';
import {
  materializeProgressQuery,
  materializeWorkflow,
  type MaterializeProgress,
  type MaterializeResult,
} from '../workflows/index.js';
import { resultOf, startOrAttach } from './workflow-runs.js';

export interface MaterializeRequest {
  view: string;
  version?: number;
  /** Defaults: the source's full event-time extent. Rounded outward to the chunk grid. */
  startMs?: number;
  endMs?: number;
  maxConcurrency?: number;
  chunkMs?: number;
  onProgress?: (progress: MaterializeProgress) => void;
}

export interface MaterializeRun {
  workflowId: string;
  result: MaterializeResult;
}

/**
 * Plans a materialization (version, grid-aligned chunks), starts it under its deterministic workflow
 * ID (or attaches to the run already in flight under that ID) and waits for the result.
 */
export async function runMaterialization(
  deps: { store: FeatureStore; temporal: Client; taskQueue: string },
  request: MaterializeRequest,
): Promise<MaterializeRun> {
  const view = await deps.store.getView(request.view, request.version);
  let range = { startMs: request.startMs ?? NaN, endMs: request.endMs ?? NaN };
  if (request.startMs === undefined || request.endMs === undefined) {
    const extent = await deps.store.sourceExtent(view);
    range = { startMs: request.startMs ?? extent.startMs, endMs: request.endMs ?? extent.endMs };
  }
  const chunks = planChunks(range, request.chunkMs ?? MATERIALIZATION.chunkMs);
  const start = new Date(chunks[0].startMs).toISOString();
  const end = new Date(chunks[chunks.length - 1].endMs).toISOString();
  const workflowId = WORKFLOW_IDS.materialize(view.name, view.version, start, end);
  const handle = await startOrAttach(deps.temporal, materializeWorkflow, {
    workflowId,
    taskQueue: deps.taskQueue,
    args: [{ view: view.name, version: view.version, chunks, maxConcurrency: request.maxConcurrency }],
    ...materializationVisibility(view.name, view.version, start, end, chunks.length),
  });
  const poll = request.onProgress
    ? setInterval(() => {
        handle
          .query(materializeProgressQuery)
          .then(request.onProgress)
          .catch(() => undefined);
      }, 500)
    : undefined;
  try {
    const result = await resultOf(handle);
    request.onProgress?.({
      chunksDone: result.chunks,
      chunksTotal: result.chunks,
      rowsWritten: result.rowsWritten,
      rowsQuarantined: result.rowsQuarantined,
    });
    return { workflowId, result };
  } finally {
    clearInterval(poll);
  }
}
