import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import * as schema from '../db/schema.js';
import { parseDuration } from './duration.js';
import { appendOffline } from './offline-store.js';
import { upsertOnline } from './online-store.js';
import { projectRows } from './plain-projection.js';
import type { ViewVersion } from './registry.js';
import { prepareRows } from './row-preparation.js';
import { openSource } from './sources/index.js';
import type { FeatureFrame, QuarantinedRow, TimeRange } from './types.js';
import { aggregateWindows } from './window-aggregation.js';

/** Channel notified (on commit) after every chunk, so online caches can invalidate. */
export const MATERIALIZATION_CHANNEL = 'kaizen_materialization';

export interface ChunkResult {
  chunkId: string;
  rowsWritten: number;
  onlineRows: number;
  rowsQuarantined: number;
  /** True when the ledger already had this chunk: nothing was written again. */
  alreadyCommitted: boolean;
  seconds: number;
}

export interface ChunkDeps {
  pool: pg.Pool;
  dataRoot: string;
  now?: () => number;
}

export interface ChunkHooks {
  onProgress?: (phase: 'read' | 'transform' | 'write' | 'committed', detail: Record<string, number>) => void;
  signal?: AbortSignal;
  /** Called inside the transaction just before commit; tests inject faults here. */
  beforeCommit?: (chunkId: string) => void | Promise<void>;
}

export function chunkId(view: { name: string; version: number }, range: TimeRange): string {
  return `${view.name}@v${view.version}:${new Date(range.startMs).toISOString()}:${new Date(range.endMs).toISOString()}`;
}

function lookbackMs(view: ViewVersion): number {
  const windows = view.definition.transform?.windows ?? [];
  return Math.max(0, ...windows.map(parseDuration));
}

/** Builds the chunk's feature rows and its quarantine (only rows owned by this chunk's range). */
async function computeChunk(
  deps: ChunkDeps,
  view: ViewVersion,
  range: TimeRange,
  includeUntimed: boolean,
): Promise<{ frame: FeatureFrame; quarantined: QuarantinedRow[]; sourceLabel: string }> {
  const lookback = lookbackMs(view);
  const readRange = { startMs: range.startMs - lookback, endMs: range.endMs };
  const data = await openSource(view.definition.source, {
    dataRoot: deps.dataRoot,
    pool: deps.pool,
    range: readRange,
  });
  const rows = data.select(readRange, includeUntimed);
  const { input, quarantined } = prepareRows(view.definition, data, rows);
  const frame = view.definition.transform
    ? aggregateWindows(view.definition, input, range)
    : projectRows(view.definition, input, range);
  // Lookback rows belong to the previous chunk, which quarantines its own bad rows.
  const owned = quarantined.filter((q) => {
    const ts = data.eventTs[q.position];
    return !(ts >= readRange.startMs && ts < range.startMs);
  });
  return { frame, quarantined: owned, sourceLabel: data.label };
}

/**
 * Materializes one chunk exactly once: offline rows (COPY), the online upsert, the quarantine and the
 * ledger entry commit together in one transaction, under a per-chunk lock. A retried or replayed chunk
 * finds its ledger entry and writes nothing; a failed attempt rolls back and leaves nothing behind.
 */
export async function materializeChunk(
  deps: ChunkDeps,
  view: ViewVersion,
  range: TimeRange,
  opts: { includeUntimed?: boolean } & ChunkHooks = {},
): Promise<ChunkResult> {
  const started = performance.now();
  const id = chunkId(view, range);
  const db = drizzle(deps.pool, { schema });
  const committed = async (): Promise<ChunkResult | undefined> => {
    const [row] = await db
      .select()
      .from(schema.materializationChunks)
      .where(eq(schema.materializationChunks.chunkId, id));
    if (!row) return undefined;
    const seconds = (performance.now() - started) / 1000;
    return {
      chunkId: id,
      rowsWritten: row.rowsWritten,
      onlineRows: row.onlineRows,
      rowsQuarantined: row.rowsQuarantined,
      alreadyCommitted: true,
      seconds,
    };
  };
  const previous = await committed();
  if (previous) return previous;

  opts.onProgress?.('read', {});
  const { frame, quarantined, sourceLabel } = await computeChunk(
    deps,
    view,
    range,
    opts.includeUntimed ?? false,
  );
  opts.signal?.throwIfAborted();
  opts.onProgress?.('transform', { rows: frame.length, quarantined: quarantined.length });

  const client = await deps.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [id]);
    const [raced] = (
      await client.query('SELECT 1 FROM kaizen.materialization_chunks WHERE chunk_id = $1', [id])
    ).rows;
    if (raced) {
      await client.query('ROLLBACK');
      return (await committed())!;
    }
    const constants = { createdTsMs: (deps.now ?? Date.now)(), materializationId: id };
    const rowsWritten = await appendOffline(
      client,
      view.tables.offline,
      view.features,
      frame,
      constants,
      opts.signal,
    );
    opts.onProgress?.('write', { rows: rowsWritten });
    const onlineRows = await upsertOnline(client, view.tables.online, view.features, frame, constants);
    const tx = drizzle(client, { schema });
    let rowsQuarantined = 0;
    for (let i = 0; i < quarantined.length; i += 5_000) {
      const inserted = await tx
        .insert(schema.quarantine)
        .values(
          quarantined.slice(i, i + 5_000).map((q) => ({
            viewName: view.name,
            version: view.version,
            chunkId: id,
            source: sourceLabel,
            position: q.position,
            reason: q.reason,
            row: q.row,
          })),
        )
        .onConflictDoNothing()
        .returning({ id: schema.quarantine.id });
      rowsQuarantined += inserted.length;
    }
    await tx.insert(schema.materializationChunks).values({
      chunkId: id,
      viewName: view.name,
      version: view.version,
      rangeStart: new Date(range.startMs),
      rangeEnd: new Date(range.endMs),
      rowsWritten,
      onlineRows,
      rowsQuarantined,
    });
    await tx.execute(
      sql`SELECT pg_notify(${MATERIALIZATION_CHANNEL}, ${JSON.stringify({ view: view.name, version: view.version, chunkId: id })})`,
    );
    opts.signal?.throwIfAborted();
    await opts.beforeCommit?.(id);
    await client.query('COMMIT');
    opts.onProgress?.('committed', { rows: rowsWritten });
    return {
      chunkId: id,
      rowsWritten,
      onlineRows,
      rowsQuarantined,
      alreadyCommitted: false,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
