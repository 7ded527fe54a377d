import { and, eq, max } from 'drizzle-orm';
import type pg from 'pg';
import type { Db } from '../../db/client.js';
import { materializationChunks } from '../../db/schema.js';
import type { ViewVersion } from '../registry/types.js';
import { isUsableTime } from '../sources/source-data.js';
import { openSource } from '../sources/index.js';
import type { TimeRange } from '../definitions/types.js';

/**
 * Chunks lie on a fixed grid (multiples of `chunkMs` since the Unix epoch), so two materializations of
 * overlapping ranges produce the same chunk ids and the ledger keeps every chunk exactly-once.
 */
export function planChunks(range: TimeRange, chunkMs: number): TimeRange[] {
  if (!(range.endMs > range.startMs)) {
    throw new Error(
      `empty materialization range [${new Date(range.startMs).toISOString()}, ${new Date(range.endMs).toISOString()})`,
    );
  }
  const first = Math.floor(range.startMs / chunkMs) * chunkMs;
  const chunks: TimeRange[] = [];
  for (let start = first; start < range.endMs; start += chunkMs)
    chunks.push({ startMs: start, endMs: start + chunkMs });
  return chunks;
}

/** Event-time extent of a view's source: [first event, last event + 1 ms). */
export async function sourceExtent(
  view: ViewVersion,
  deps: { dataRoot: string; pool: pg.Pool },
): Promise<TimeRange> {
  const data = await openSource(view.definition.source, { dataRoot: deps.dataRoot, pool: deps.pool });
  let min = Infinity;
  let max = -Infinity;
  for (const ts of data.eventTs) {
    if (isUsableTime(ts)) {
      if (ts < min) min = ts;
      if (ts > max) max = ts;
    }
  }
  if (min === Infinity)
    throw new Error(
      `source of ${view.name}@v${view.version} (${data.label}) has no row with a valid event time`,
    );
  return { startMs: min, endMs: max + 1 };
}

/**
 * The next incremental range for a schedule: from the end of the last committed chunk (or the
 * source's first event) up to the last complete chunk before `nowMs`. Undefined when nothing is due.
 */
export async function incrementalRange(
  db: Db,
  view: ViewVersion,
  nowMs: number,
  chunkMs: number,
  firstEventMs: () => Promise<number>,
): Promise<TimeRange | undefined> {
  const [row] = await db
    .select({ end: max(materializationChunks.rangeEnd) })
    .from(materializationChunks)
    .where(
      and(eq(materializationChunks.viewName, view.name), eq(materializationChunks.version, view.version)),
    );
  const startMs = row?.end
    ? new Date(row.end).getTime()
    : Math.floor((await firstEventMs()) / chunkMs) * chunkMs;
  const endMs = Math.floor(nowMs / chunkMs) * chunkMs;
  return endMs > startMs ? { startMs, endMs } : undefined;
}
