import { defineQuery, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ACTIVITY_PROFILES, MATERIALIZATION } from '../constants.js';

export interface MaterializeInput {
  view: string;
  version: number;
  /** Grid-aligned chunks, planned by the caller with the feature store's planChunks. */
  chunks: Array<{ startMs: number; endMs: number }>;
  maxConcurrency?: number;
}

export interface MaterializeResult {
  view: string;
  version: number;
  chunks: number;
  /** Committed before from the same source rows: nothing written. */
  chunksSkipped: number;
  /** Committed before from other source rows (late or corrected data): written again as a new revision. */
  chunksRevised: number;
  rowsWritten: number;
  onlineRows: number;
  rowsQuarantined: number;
  durationMs: number;
}

export interface MaterializeProgress {
  chunksDone: number;
  chunksTotal: number;
  rowsWritten: number;
  rowsQuarantined: number;
}

export const materializeProgressQuery = defineQuery<MaterializeProgress>('progress');

const { materializeChunk } = proxyActivities<Activities>(ACTIVITY_PROFILES.data);

/** Materializes a view version over grid-aligned chunks, in parallel up to a bound. */
export async function materializeWorkflow(input: MaterializeInput): Promise<MaterializeResult> {
  const startedAt = Date.now();
  const progress: MaterializeProgress = {
    chunksDone: 0,
    chunksTotal: input.chunks.length,
    rowsWritten: 0,
    rowsQuarantined: 0,
  };
  setHandler(materializeProgressQuery, () => progress);
  const result: MaterializeResult = {
    view: input.view,
    version: input.version,
    chunks: input.chunks.length,
    chunksSkipped: 0,
    chunksRevised: 0,
    rowsWritten: 0,
    onlineRows: 0,
    rowsQuarantined: 0,
    durationMs: 0,
  };
  let next = 0;
  const lane = async () => {
    while (next < input.chunks.length) {
      const index = next++;
      const chunk = input.chunks[index];
      const done = await materializeChunk({
        view: input.view,
        version: input.version,
        ...chunk,
        includeUntimed: index === 0,
      });
      if (done.alreadyCommitted) result.chunksSkipped++;
      else {
        if (done.revised) result.chunksRevised++;
        result.rowsWritten += done.rowsWritten;
        result.onlineRows += done.onlineRows;
        result.rowsQuarantined += done.rowsQuarantined;
      }
      progress.chunksDone++;
      progress.rowsWritten = result.rowsWritten;
      progress.rowsQuarantined = result.rowsQuarantined;
    }
  };
  const lanes = Math.max(
    1,
    Math.min(input.maxConcurrency ?? MATERIALIZATION.maxConcurrentChunks, input.chunks.length),
  );
  await Promise.all(Array.from({ length: lanes }, lane));
  result.durationMs = Date.now() - startedAt;
  return result;
}
