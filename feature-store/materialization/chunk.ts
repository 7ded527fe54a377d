/**
 * One materialization chunk, exactly once per version of its source data: offline rows (COPY), the
 * online upsert, the quarantine and the ledger entry commit together in one transaction, under a
 * per-chunk lock. A retried or replayed chunk whose source rows are unchanged writes nothing; a chunk
 * whose source rows changed since it was committed (rows appended late, a corrected file) is computed
 * again as a new revision that replaces the old one's rows. A failed attempt rolls back entirely, so
 * readers never see half a chunk.
 */
import { eq, sql } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import * as schema from '../../db/schema.js';
import { parseDuration } from '../definitions/duration.js';
import type { FeatureFrame, QuarantinedRow, TimeRange } from '../definitions/types.js';
import { appendOffline, deleteMaterializedRows } from '../offline/append.js';
import { rebuildOnline, upsertOnline } from '../online/online-store.js';
import type { ViewVersion } from '../registry/types.js';
import { openSource } from '../sources/index.js';
import { MAX_EVENT_TS, MIN_EVENT_TS, type SourceData } from '../sources/source-data.js';
import { projectRows } from './plain-projection.js';
import { prepareRows } from './row-preparation.js';
import { sourceFingerprint } from './source-fingerprint.js';
import { aggregateWindows } from './window-aggregation.js';

/** Channel notified (on commit) after every chunk, so online caches can invalidate. */
export const MATERIALIZATION_CHANNEL = 'kaizen_materialization';

export interface ChunkResult {
  chunkId: string;
  rowsWritten: number;
  onlineRows: number;
  rowsQuarantined: number;
  /** True when the ledger already had this chunk from the same source rows: nothing was written again. */
  alreadyCommitted: boolean;
  /** The chunk's revision now: 1 when first written, N+1 each time changed source rows replaced it. */
  revision: number;
  /** True when this call replaced an earlier revision. */
  revised: boolean;
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

/** The `materialization_id` of a revision's rows: the chunk id itself for the first. */
export const materializationId = (chunk: string, revision: number) =>
  revision === 1 ? chunk : `${chunk}#r${revision}`;

function lookbackMs(view: ViewVersion): number {
  const windows = view.definition.transform?.windows ?? [];
  return Math.max(0, ...windows.map(parseDuration));
}

/** The source rows a chunk reads (its range plus the windows' lookback) and their fingerprint. */
export interface ChunkSource {
  data: SourceData;
  rows: Uint32Array;
  readRange: TimeRange;
  fingerprint: string;
}

export async function readChunkSource(
  deps: { pool: pg.Pool; dataRoot: string },
  view: ViewVersion,
  range: TimeRange,
  includeUntimed: boolean,
): Promise<ChunkSource> {
  const readRange = { startMs: range.startMs - lookbackMs(view), endMs: range.endMs };
  const data = await openSource(view.definition.source, {
    dataRoot: deps.dataRoot,
    pool: deps.pool,
    range: readRange,
  });
  const rows = data.select(readRange, includeUntimed);
  // Untimed rows belong to no chunk's data (only to the quarantine): the fingerprint leaves them out.
  const timed = includeUntimed ? data.select(readRange, false) : rows;
  return { data, rows, readRange, fingerprint: sourceFingerprint(view.definition, data, timed) };
}

/**
 * Quarantine entries of rows without a usable event time belong to no time chunk (whichever chunk
 * reads them files them here), so revising a chunk never drops them.
 */
export const untimedQuarantineId = (view: { name: string; version: number }) =>
  `${view.name}@v${view.version}:untimed`;

/** Builds the chunk's feature rows and its quarantine (only rows owned by this chunk's range). */
function computeChunk(
  view: ViewVersion,
  source: ChunkSource,
  range: TimeRange,
): { frame: FeatureFrame; quarantined: QuarantinedRow[] } {
  const { data, rows, readRange } = source;
  const { input, quarantined } = prepareRows(view.definition, data, rows, view.keyEncoding);
  const frame = view.definition.transform
    ? aggregateWindows(view.definition, input, range)
    : projectRows(view.definition, input, range);
  // Lookback rows belong to the previous chunk, which quarantines its own bad rows.
  const owned = quarantined.filter((q) => {
    const ts = data.eventTs[q.position];
    return !(ts >= readRange.startMs && ts < range.startMs);
  });
  return { frame, quarantined: owned };
}

const isTimed = (ts: number) => ts >= MIN_EVENT_TS && ts < MAX_EVENT_TS;

type LedgerRow = typeof schema.materializationChunks.$inferSelect;

/** A result that wrote nothing: the ledger's entry as it stands. */
function unchanged(row: LedgerRow, started: number): ChunkResult {
  return {
    chunkId: row.chunkId,
    rowsWritten: row.rowsWritten,
    onlineRows: row.onlineRows,
    rowsQuarantined: row.rowsQuarantined,
    alreadyCommitted: true,
    revision: row.revision,
    revised: false,
    seconds: (performance.now() - started) / 1000,
  };
}

export async function materializeChunk(
  deps: ChunkDeps,
  view: ViewVersion,
  range: TimeRange,
  opts: { includeUntimed?: boolean } & ChunkHooks = {},
): Promise<ChunkResult> {
  const started = performance.now();
  const id = chunkId(view, range);
  const ledger = async (db: NodePgDatabase<typeof schema>) =>
    (
      await db.select().from(schema.materializationChunks).where(eq(schema.materializationChunks.chunkId, id))
    )[0];

  opts.onProgress?.('read', {});
  const source = await readChunkSource(deps, view, range, opts.includeUntimed ?? false);
  const previous = await ledger(drizzle(deps.pool, { schema }));
  if (previous && previous.sourceFingerprint === source.fingerprint) return unchanged(previous, started);

  const { frame, quarantined } = computeChunk(view, source, range);
  opts.signal?.throwIfAborted();
  opts.onProgress?.('transform', { rows: frame.length, quarantined: quarantined.length });

  const client = await deps.pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [id]);
    const tx = drizzle(client, { schema });
    // Another attempt may have committed while this one computed: decide again under the lock.
    const current = await ledger(tx);
    if (current && current.sourceFingerprint === source.fingerprint) {
      await client.query('ROLLBACK');
      return unchanged(current, started);
    }
    const revision = (current?.revision ?? 0) + 1;
    const constants = {
      createdTsMs: (deps.now ?? Date.now)(),
      materializationId: materializationId(id, revision),
    };
    const replacedKeys = current
      ? await deleteMaterializedRows(client, view.tables.offline, materializationId(id, current.revision))
      : [];
    if (current) await tx.delete(schema.quarantine).where(eq(schema.quarantine.chunkId, id));
    const rowsWritten = await appendOffline(
      client,
      view.tables.offline,
      view.features,
      frame,
      constants,
      opts.signal,
    );
    opts.onProgress?.('write', { rows: rowsWritten });
    let onlineRows: number;
    if (current) {
      // "Upsert if newer" cannot take back rows the old revision had: rebuild those entities from offline.
      const keys = [...new Set([...replacedKeys, ...frame.entityKey])].sort();
      await rebuildOnline(client, view.tables, view.features, keys);
      onlineRows = keys.length;
    } else {
      onlineRows = await upsertOnline(client, view.tables.online, view.features, frame, constants);
    }
    let rowsQuarantined = 0;
    for (let i = 0; i < quarantined.length; i += 5_000) {
      const inserted = await tx
        .insert(schema.quarantine)
        .values(
          quarantined.slice(i, i + 5_000).map((q) => ({
            viewName: view.name,
            version: view.version,
            chunkId: isTimed(source.data.eventTs[q.position]) ? id : untimedQuarantineId(view),
            source: source.data.label,
            position: q.position,
            reason: q.reason,
            row: q.row,
          })),
        )
        .onConflictDoNothing()
        .returning({ id: schema.quarantine.id });
      rowsQuarantined += inserted.length;
    }
    const entry = {
      rowsWritten,
      onlineRows,
      rowsQuarantined,
      revision,
      sourceFingerprint: source.fingerprint,
      committedAt: new Date(),
    };
    await tx
      .insert(schema.materializationChunks)
      .values({
        chunkId: id,
        viewName: view.name,
        version: view.version,
        rangeStart: new Date(range.startMs),
        rangeEnd: new Date(range.endMs),
        ...entry,
      })
      .onConflictDoUpdate({ target: schema.materializationChunks.chunkId, set: entry });
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
      revision,
      revised: current !== undefined,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      // The connection is unusable (e.g. Postgres went away): the pool discards it; the cause is `error`.
      broken = rollbackError as Error;
    }
    throw error;
  } finally {
    client.release(broken);
  }
}
