/**
 * Which committed chunks no longer match their source: the source rows a chunk reads now have
 * another fingerprint than the ones it was computed from (rows appended or corrected after the chunk
 * was committed). `kaizen materialize` over the range, or a schedule's next run within its lookback,
 * computes them again as new revisions.
 */
import { and, asc, eq, gt } from 'drizzle-orm';
import type pg from 'pg';
import type { Db } from '../../db/client.js';
import { materializationChunks } from '../../db/schema.js';
import type { ViewVersion } from '../registry/types.js';
import { readChunkSource } from './chunk.js';

export interface ChunkState {
  chunkId: string;
  startMs: number;
  endMs: number;
  revision: number;
  stale: boolean;
}

/**
 * Every chunk's source rows are read and hashed, so the cost grows with the history checked;
 * `endsAfterMs` limits it to the chunks ending after that time.
 */
export async function chunkStates(
  deps: { db: Db; pool: pg.Pool; dataRoot: string },
  view: ViewVersion,
  opts: { endsAfterMs?: number } = {},
): Promise<ChunkState[]> {
  const committed = await deps.db
    .select()
    .from(materializationChunks)
    .where(
      and(
        eq(materializationChunks.viewName, view.name),
        eq(materializationChunks.version, view.version),
        opts.endsAfterMs === undefined
          ? undefined
          : gt(materializationChunks.rangeEnd, new Date(opts.endsAfterMs)),
      ),
    )
    .orderBy(asc(materializationChunks.rangeStart));
  const states: ChunkState[] = [];
  for (const chunk of committed) {
    const range = { startMs: chunk.rangeStart.getTime(), endMs: chunk.rangeEnd.getTime() };
    const { fingerprint } = await readChunkSource(deps, view, range);
    states.push({
      chunkId: chunk.chunkId,
      ...range,
      revision: chunk.revision,
      stale: fingerprint !== chunk.sourceFingerprint,
    });
  }
  return states;
}
