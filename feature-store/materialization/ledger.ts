/** The chunk ledger: which chunks of a view version are committed, and from what source data. */
import { createHash } from 'node:crypto';
import { and, count, eq, max, sum } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { materializationChunks } from '../../db/schema.js';
import { canonicalJson } from '../definitions/fingerprint.js';
import type { ViewVersion } from '../registry/types.js';

/** Fingerprint of a version's materialized data: changes with every chunk committed or revised. */
export async function ledgerFingerprint(
  db: Db,
  view: ViewVersion,
): Promise<{ chunks: number; hash: string }> {
  const [row] = await db
    .select({
      chunks: count(),
      rows: sum(materializationChunks.rowsWritten),
      revisions: sum(materializationChunks.revision),
      last: max(materializationChunks.committedAt),
    })
    .from(materializationChunks)
    .where(
      and(eq(materializationChunks.viewName, view.name), eq(materializationChunks.version, view.version)),
    );
  const hash = createHash('sha256').update(canonicalJson(row)).digest('hex').slice(0, 16);
  return { chunks: Number(row?.chunks ?? 0), hash };
}
