/**
 * Erasing an entity key from the labels of every label source keyed by its entity (ingested and fed
 * back alike) and from the sources' quarantine entries, each source under its lock held alone.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { definitions, labels, quarantine } from '../../db/schema.js';
import { erasedLabelMatchers } from './erased.js';
import { labelQuarantineName, labelSourceLockKey } from './ingest.js';
import type { LabelSourceDefinition } from './label-source.js';

export interface LabelErasure {
  source: string;
  labels: number;
  quarantineEntries: number;
}

export async function eraseFromLabels(
  db: Db,
  entity: string,
  hashes: ReadonlySet<string>,
): Promise<LabelErasure[]> {
  const stored = await db
    .select({ name: definitions.name, definition: definitions.definition })
    .from(definitions)
    .where(eq(definitions.kind, 'labelSource'))
    .orderBy(definitions.name, definitions.version);
  // Every version's spelling of keys (a source's versions may key differently).
  const matchers = new Map<string, Array<ReturnType<typeof erasedLabelMatchers>>>();
  for (const { name, definition } of stored) {
    const def = definition as LabelSourceDefinition;
    if (!def.entities.some((e) => e.name === entity)) continue;
    matchers.set(name, [...(matchers.get(name) ?? []), erasedLabelMatchers(def, hashes)]);
  }
  const results: LabelErasure[] = [];
  for (const [source, erased] of matchers)
    results.push(
      await db.transaction(async (tx) => {
        // Alone on the source: an ingestion commits before this or sees the erasure (ingest.ts).
        await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${labelSourceLockKey(source)}))`);
        const keys = await tx
          .selectDistinct({ key: labels.key })
          .from(labels)
          .where(eq(labels.sourceName, source));
        const gone = keys.map((k) => k.key).filter((key) => erased.some((m) => m.key(key)));
        const deleted =
          gone.length === 0
            ? []
            : await tx
                .delete(labels)
                .where(and(eq(labels.sourceName, source), inArray(labels.key, gone)))
                .returning({ id: labels.id });
        const entries = await tx
          .select({ id: quarantine.id, row: quarantine.row })
          .from(quarantine)
          .where(eq(quarantine.viewName, labelQuarantineName(source)));
        const ids = entries
          .filter((e) => erased.some((m) => m.row(e.row as Record<string, unknown>)))
          .map((e) => e.id);
        if (ids.length > 0) await tx.delete(quarantine).where(inArray(quarantine.id, ids));
        return { source, labels: deleted.length, quarantineEntries: ids.length };
      }),
    );
  return results;
}
