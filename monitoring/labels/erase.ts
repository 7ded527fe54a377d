/**
 * Erasing an entity key from the labels of every label source keyed by its entity (ingested and fed
 * back alike). Label keys join the source's entities and request fields as views join entities, so
 * the feature store's matcher of erased keys reads them.
 */
import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { definitions, labels } from '../../db/schema.js';
import { erasedKeyMatcher } from '../../feature-store/index.js';
import { labelKeyFieldNames, type LabelSourceDefinition } from './label-source.js';

export interface LabelErasure {
  source: string;
  labels: number;
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
  const matchers = new Map<string, Array<(key: string) => boolean>>();
  for (const { name, definition } of stored) {
    const def = definition as LabelSourceDefinition;
    if (!def.entities.some((e) => e.name === entity)) continue;
    const list = matchers.get(name) ?? [];
    list.push(erasedKeyMatcher(labelKeyFieldNames(def), 'escaped', hashes));
    matchers.set(name, list);
  }
  const results: LabelErasure[] = [];
  for (const [source, erased] of matchers) {
    const keys = await db
      .selectDistinct({ key: labels.key })
      .from(labels)
      .where(eq(labels.sourceName, source));
    const gone = keys.map((k) => k.key).filter((key) => erased.some((matches) => matches(key)));
    const deleted =
      gone.length === 0
        ? []
        : await db
            .delete(labels)
            .where(and(eq(labels.sourceName, source), inArray(labels.key, gone)))
            .returning({ id: labels.id });
    results.push({ source, labels: deleted.length });
  }
  return results;
}
