/** The chunk ledger: which chunks of a view version are committed, and from what source data. */
import { createHash } from 'node:crypto';
import { and, count, eq, inArray, isNotNull, max, sum } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { erasures, materializationChunks, retentionPurges } from '../../db/schema.js';
import { canonicalJson } from '../definitions/fingerprint.js';
import type { ViewVersion } from '../registry/types.js';

/** A view version as a retention purge's target. */
export const purgeTarget = (view: { name: string; version: number }) => `view:${view.name}@v${view.version}`;

/**
 * Fingerprint of a version's materialized data: changes with every chunk committed or revised, and
 * with every completed erasure of its entities' keys and every retention purge of its rows (exports
 * and indexes named by it are redone).
 */
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
  const [erased] = await db
    .select({ erasures: count(), last: max(erasures.completedAt) })
    .from(erasures)
    .where(
      and(
        inArray(
          erasures.entity,
          view.definition.entities.map((e) => e.name),
        ),
        isNotNull(erasures.completedAt),
      ),
    );
  const [purged] = await db
    .select({ purges: count(), last: max(retentionPurges.purgedAt) })
    .from(retentionPurges)
    .where(eq(retentionPurges.target, purgeTarget(view)));
  // Without erasures or purges the hash is what it was before they existed: exports stay valid.
  const fingerprinted = {
    ...row,
    ...(erased.erasures > 0 ? { erased } : {}),
    ...(purged.purges > 0 ? { purged } : {}),
  };
  const hash = createHash('sha256').update(canonicalJson(fingerprinted)).digest('hex').slice(0, 16);
  return { chunks: Number(row?.chunks ?? 0), hash };
}
