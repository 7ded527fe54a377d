import { and, eq, max } from 'drizzle-orm';
import type pg from 'pg';
import type { Db } from '../../db/client.js';
import { materializationChunks } from '../../db/schema.js';
import type { ViewVersion } from '../registry/types.js';
import { isUsableTime } from '../sources/source-data.js';
import { openSource } from '../sources/index.js';
import type { TimeRange } from '../definitions/types.js';
import { chunkStates } from './staleness.js';

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

/** What a schedule's next run materializes, in time order (incrementalPlan). */
export interface IncrementalChunks {
  /** Committed chunks within the lookback whose source rows changed since: revised by the run. */
  stale: TimeRange[];
  /** The complete chunks after the last committed one: materialized for the first time. */
  due: TimeRange[];
}

/**
 * A schedule's next run: the chunks from the end of the last committed chunk (or the source's first
 * event) up to the last complete chunk before `nowMs`, and, behind them, the committed chunks ending
 * within `lookbackMs` before that end whose source rows changed since they were committed (rows that
 * arrived late or were corrected). Checking a chunk reads and hashes its source rows (chunkStates),
 * so the lookback bounds what every run pays however long the view's history grows.
 */
export async function incrementalPlan(
  deps: { db: Db; pool: pg.Pool; dataRoot: string },
  view: ViewVersion,
  opts: { nowMs: number; chunkMs: number; lookbackMs: number },
): Promise<IncrementalChunks> {
  const [row] = await deps.db
    .select({ end: max(materializationChunks.rangeEnd) })
    .from(materializationChunks)
    .where(
      and(eq(materializationChunks.viewName, view.name), eq(materializationChunks.version, view.version)),
    );
  const committedEndMs = row?.end ? new Date(row.end).getTime() : undefined;
  const stale =
    committedEndMs === undefined
      ? []
      : (await chunkStates(deps, view, { endsAfterMs: committedEndMs - opts.lookbackMs }))
          .filter((chunk) => chunk.stale)
          .map(({ startMs, endMs }) => ({ startMs, endMs }));
  const startMs =
    committedEndMs ?? Math.floor((await sourceExtent(view, deps)).startMs / opts.chunkMs) * opts.chunkMs;
  const endMs = Math.floor(opts.nowMs / opts.chunkMs) * opts.chunkMs;
  return { stale, due: endMs > startMs ? planChunks({ startMs, endMs }, opts.chunkMs) : [] };
}
