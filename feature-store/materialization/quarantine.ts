/**
 * Writing quarantined rows. Each entry belongs to one chunk (`chunk_id`) and is unique per position
 * in it, so revising a chunk replaces exactly its own entries. Rows without a usable event time
 * belong to no chunk: the first chunk of every materialization run files the source's current set
 * of them again, whole, under `<view>@vN:untimed` — appended ones are picked up, none doubles.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import * as schema from '../../db/schema.js';
import type { QuarantinedRow } from '../definitions/types.js';
import { erasedKeyHashes, erasedRowMatcher } from '../erasure/erased-keys.js';
import { onlineLockKey } from '../registry/store-tables.js';
import type { ViewVersion } from '../registry/types.js';
import { isUsableTime, type SourceData } from '../sources/source-data.js';
import { prepareRows } from './row-preparation.js';

export const untimedQuarantineId = (view: { name: string; version: number }) =>
  `${view.name}@v${view.version}:untimed`;

/** Inserts a chunk's quarantined rows in the caller's transaction; returns how many. */
export async function insertQuarantine(
  tx: NodePgDatabase<typeof schema>,
  view: ViewVersion,
  chunkId: string,
  source: string,
  rows: QuarantinedRow[],
): Promise<number> {
  for (let i = 0; i < rows.length; i += 5_000) {
    await tx.insert(schema.quarantine).values(
      rows.slice(i, i + 5_000).map((q) => ({
        viewName: view.name,
        version: view.version,
        chunkId,
        source,
        position: q.position,
        reason: q.reason,
        row: q.row,
      })),
    );
  }
  return rows.length;
}

/** Removes a chunk's entries (a revision files them again). */
export async function deleteQuarantine(
  tx: NodePgDatabase<typeof schema>,
  view: ViewVersion,
  chunkId: string,
) {
  await tx
    .delete(schema.quarantine)
    .where(
      and(
        eq(schema.quarantine.viewName, view.name),
        eq(schema.quarantine.version, view.version),
        eq(schema.quarantine.chunkId, chunkId),
      ),
    );
}

/** The source's rows without a usable event time, with their reasons (checked like any row). */
export function untimedRows(view: ViewVersion, data: SourceData): QuarantinedRow[] {
  const positions: number[] = [];
  for (let p = 0; p < data.length; p++) if (!isUsableTime(data.eventTs[p])) positions.push(p);
  if (positions.length === 0) return [];
  return prepareRows(view.definition, data, Uint32Array.from(positions), view.keyEncoding).quarantined;
}

/** Replaces the view version's untimed entries with `rows`, in one transaction; returns how many. */
export async function refileUntimed(
  db: NodePgDatabase<typeof schema>,
  view: ViewVersion,
  source: string,
  rows: QuarantinedRow[],
): Promise<number> {
  const id = untimedQuarantineId(view);
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${id}))`);
    // Under the online lock an erasure holds alone: an erased key's raw rows are not filed again.
    await tx.execute(sql`SELECT pg_advisory_xact_lock_shared(hashtext(${onlineLockKey(view)}))`);
    const hashes = await erasedKeyHashes(
      tx,
      view.definition.entities.map((e) => e.name),
    );
    const erased = erasedRowMatcher(view, hashes);
    await deleteQuarantine(tx, view, id);
    return insertQuarantine(tx, view, id, source, hashes.size ? rows.filter((r) => !erased(r.row)) : rows);
  });
}
