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
import { inClientTransaction } from '../../db/client.js';
import * as schema from '../../db/schema.js';
import { parseDuration } from '../definitions/duration.js';
import { erasedKeyHashes, withoutErasedKeys } from '../erasure/erased-keys.js';
import type { FeatureFrame, QuarantinedRow, TimeRange } from '../definitions/types.js';
import { appendOffline, deleteMaterializedRows } from '../offline/append.js';
import { rebuildOnline, upsertOnline } from '../online/online-store.js';
import { onlineLockKey } from '../registry/store-tables.js';
import type { ViewVersion } from '../registry/types.js';
import { openSource } from '../sources/index.js';
import type { SourceData } from '../sources/source-data.js';
import { projectRows } from './plain-projection.js';
import { deleteQuarantine, insertQuarantine, refileUntimed, untimedRows } from './quarantine.js';
import { prepareRows } from './row-preparation.js';
import { sourceFingerprint } from './source-fingerprint.js';
import { aggregateWindows } from './window-aggregation.js';

/** Channel notified (on commit) after every chunk, so online caches can invalidate. */
export const MATERIALIZATION_CHANNEL = 'kaizen_materialization';

export interface ChunkResult {
  chunkId: string;
  rowsWritten: number;
  onlineRows: number;
  /** The chunk's quarantined rows, plus the source's untimed ones when this chunk filed them. */
  rowsQuarantined: number;
  /** True when the ledger already had this chunk from the same source rows: nothing was written again. */
  alreadyCommitted: boolean;
  /** The chunk's revision now: 1 when first written, N+1 each time changed source rows replaced it. */
  revision: number;
  /** True when this run replaced an earlier revision. */
  revised: boolean;
  /** Rows and quarantine entries of erased entity keys this run left out (feature-store/erasure). */
  rowsErased?: number;
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
  /**
   * Who writes (e.g. a workflow run's id), recorded in the ledger: a retry of the same run that finds
   * its own earlier commit reports what that commit wrote instead of "already committed".
   */
  writer?: string;
}

/**
 * A chunk committed by another attempt between this attempt's first look at the ledger and its
 * lock, from other source rows than the ones this attempt read. Which read is newer is unknown, so
 * this attempt writes nothing; a retry reads the source again. Retryable.
 */
export class ConcurrentChunkError extends Error {
  override name = 'ConcurrentChunkError';
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
): Promise<ChunkSource> {
  const readRange = { startMs: range.startMs - lookbackMs(view), endMs: range.endMs };
  const data = await openSource(view.definition.source, {
    dataRoot: deps.dataRoot,
    pool: deps.pool,
    range: readRange,
  });
  const rows = data.select(readRange, false);
  return { data, rows, readRange, fingerprint: sourceFingerprint(view.definition, data, rows) };
}

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

type LedgerRow = typeof schema.materializationChunks.$inferSelect;

const ledgerEntry = async (db: NodePgDatabase<typeof schema>, id: string): Promise<LedgerRow | undefined> =>
  (
    await db.select().from(schema.materializationChunks).where(eq(schema.materializationChunks.chunkId, id))
  )[0];

/**
 * Online writes of one view version, ordered: first writes of chunks ("upsert if newer") commute and
 * share the lock; a revision rebuilds rows from the offline store and takes it alone, so it sees
 * every chunk committed before it and none commits under it.
 */
async function lockOnline(client: pg.PoolClient, view: ViewVersion, exclusive: boolean): Promise<void> {
  const fn = exclusive ? 'pg_advisory_xact_lock' : 'pg_advisory_xact_lock_shared';
  await client.query(`SELECT ${fn}(hashtext($1))`, [onlineLockKey(view)]);
}

export async function materializeChunk(
  deps: ChunkDeps,
  view: ViewVersion,
  range: TimeRange,
  opts: { includeUntimed?: boolean } & ChunkHooks = {},
): Promise<ChunkResult> {
  const started = performance.now();
  const id = chunkId(view, range);
  const db = drizzle(deps.pool, { schema });
  // The ledger first, then the source: an entry committed after this look is noticed under the lock.
  const previous = await ledgerEntry(db, id);
  opts.onProgress?.('read', {});
  const source = await readChunkSource(deps, view, range);
  const untimed = opts.includeUntimed
    ? await refileUntimed(db, view, source.data.label, untimedRows(view, source.data))
    : 0;
  /** What the ledger holds, as this attempt's result: "already committed" unless this run wrote it. */
  const committed = (row: LedgerRow): ChunkResult => {
    const ours = opts.writer !== undefined && row.writtenBy === opts.writer;
    return {
      chunkId: id,
      rowsWritten: row.rowsWritten,
      onlineRows: row.onlineRows,
      rowsQuarantined: row.rowsQuarantined + untimed,
      alreadyCommitted: !ours,
      revision: row.revision,
      revised: ours && row.revision > 1,
      seconds: (performance.now() - started) / 1000,
    };
  };
  if (previous && previous.sourceFingerprint === source.fingerprint) return committed(previous);

  const computed = computeChunk(view, source, range);
  opts.signal?.throwIfAborted();
  opts.onProgress?.('transform', { rows: computed.frame.length, quarantined: computed.quarantined.length });

  return inClientTransaction(deps.pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [id]);
    const tx = drizzle(client, { schema });
    const current = await ledgerEntry(tx, id);
    if (current && current.sourceFingerprint === source.fingerprint) {
      await client.query('ROLLBACK');
      return committed(current);
    }
    if ((current?.revision ?? 0) !== (previous?.revision ?? 0))
      throw new ConcurrentChunkError(
        `chunk ${id} was committed meanwhile from other source rows than this attempt read; read again`,
      );
    // Under the online lock, which an erasure holds alone while it deletes: an erasure committed
    // before this point is seen here; one after it waits for this commit and deletes its rows.
    await lockOnline(client, view, current !== undefined);
    const { frame, quarantined, rowsErased } = withoutErasedKeys(
      view,
      await erasedKeyHashes(
        tx,
        view.definition.entities.map((e) => e.name),
      ),
      computed.frame,
      computed.quarantined,
    );
    const revision = (current?.revision ?? 0) + 1;
    const constants = {
      createdTsMs: (deps.now ?? Date.now)(),
      materializationId: materializationId(id, revision),
    };
    const replacedKeys = current
      ? await deleteMaterializedRows(client, view.tables.offline, materializationId(id, current.revision))
      : [];
    if (current) await deleteQuarantine(tx, view, id);
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
      onlineRows = await rebuildOnline(client, view.tables, view.features, keys);
    } else {
      onlineRows = await upsertOnline(client, view.tables.online, view.features, frame, constants);
    }
    const rowsQuarantined = await insertQuarantine(tx, view, id, source.data.label, quarantined);
    const entry = {
      rowsWritten,
      onlineRows,
      rowsQuarantined,
      revision,
      sourceFingerprint: source.fingerprint,
      writtenBy: opts.writer ?? null,
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
    opts.onProgress?.('committed', { rows: rowsWritten });
    return {
      chunkId: id,
      rowsWritten,
      onlineRows,
      rowsQuarantined: rowsQuarantined + untimed,
      alreadyCommitted: false,
      revision,
      revised: current !== undefined,
      ...(rowsErased > 0 ? { rowsErased } : {}),
      seconds: (performance.now() - started) / 1000,
    };
  });
}
