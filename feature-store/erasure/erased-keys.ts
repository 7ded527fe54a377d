/**
 * Erased entity keys, as every path that writes or deletes stored keys recognizes them. An erasure
 * record keeps no key, only the SHA-256 of `<entity>\0<the entity's key as stored>` under each key
 * encoding; a stored key (entities joined in order) is erased when one of its entity components
 * hashes to one of them. Materialization keeps such keys out of rows and quarantine entries it writes
 * after the erasure; the erasure itself deletes with the same matcher.
 */
import { createHash } from 'node:crypto';
import { inArray } from 'drizzle-orm';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import type * as schema from '../../db/schema.js';
import { erasures } from '../../db/schema.js';
import { encodeEntityKey, type KeyEncoding } from '../definitions/entity-keys.js';
import type { FeatureFrame, QuarantinedRow } from '../definitions/types.js';
import { gatherColumn } from '../point-in-time/join.js';
import type { ViewVersion } from '../registry/types.js';

const KEY_ENCODINGS: readonly KeyEncoding[] = ['escaped', 'joined'];

const keyHash = (entity: string, stored: string) =>
  createHash('sha256').update(`${entity}\0${stored}`).digest('hex');

/** What an erasure record keeps of `parts` (an entity's key, in key-column order): one hash per encoding. */
export function erasureKeyHashes(entity: string, parts: readonly string[]): string[] {
  return [...new Set(KEY_ENCODINGS.map((encoding) => keyHash(entity, encodeEntityKey(parts, encoding))))];
}

/** A stored key's entity components in order (`escaped` escapes '|' inside a part; `joined` cannot). */
export function splitEntityKeys(key: string, encoding: KeyEncoding): string[] {
  if (encoding === 'joined') return key.split('|');
  const components: string[] = [];
  let start = 0;
  for (let i = 0; i < key.length; i++) {
    if (key[i] === '\\') i++;
    else if (key[i] === '|') {
      components.push(key.slice(start, i));
      start = i + 1;
    }
  }
  components.push(key.slice(start));
  return components;
}

/** Whether a stored key of entities `entities` (in order) holds an erased key; memoized per key. */
export function erasedKeyMatcher(
  entities: readonly string[],
  encoding: KeyEncoding,
  hashes: ReadonlySet<string>,
): (key: string) => boolean {
  const memo = new Map<string, boolean>();
  return (key) => {
    let erased = memo.get(key);
    if (erased === undefined) {
      const components = splitEntityKeys(key, encoding);
      erased = entities.some(
        (entity, p) => components[p] !== undefined && hashes.has(keyHash(entity, components[p])),
      );
      if (memo.size < 100_000) memo.set(key, erased);
    }
    return erased;
  };
}

/** The hashes of every erasure of `entities`' keys. */
export async function erasedKeyHashes(
  db: NodePgDatabase<typeof schema>,
  entities: readonly string[],
): Promise<Set<string>> {
  if (entities.length === 0) return new Set();
  const rows = await db
    .select({ keyHashes: erasures.keyHashes })
    .from(erasures)
    .where(inArray(erasures.entity, [...entities]));
  return new Set(rows.flatMap((r) => r.keyHashes));
}

/** Each entity of a view with its key columns in the source. */
function entityColumns(view: ViewVersion): Array<{ entity: string; columns: string[] }> {
  return view.definition.entities.map((e) => {
    const columns = view.definition.entityColumns?.[e.name] ?? e.joinKey;
    return { entity: e.name, columns: typeof columns === 'string' ? [columns] : columns };
  });
}

/**
 * Whether a raw source row (a quarantine entry's) carries an erased key of `entities` (each entity
 * with its key columns in the source), spelled under `encoding`.
 */
export function erasedSourceRowMatcher(
  entities: ReadonlyArray<{ entity: string; columns: string[] }>,
  encoding: KeyEncoding,
  hashes: ReadonlySet<string>,
): (row: Record<string, unknown>) => boolean {
  return (row) =>
    entities.some(({ entity, columns }) => {
      const parts = columns.map((c) => row[c]);
      if (parts.some((p) => p === null || p === undefined)) return false;
      return hashes.has(keyHash(entity, encodeEntityKey(parts.map(String), encoding)));
    });
}

/** erasedSourceRowMatcher for a view's source rows. */
export const erasedRowMatcher = (view: ViewVersion, hashes: ReadonlySet<string>) =>
  erasedSourceRowMatcher(entityColumns(view), view.keyEncoding, hashes);

/**
 * A chunk's rows and quarantine entries without those of erased keys (the number left out is
 * reported: an erased key's rows are not lost, they were asked to go).
 */
export function withoutErasedKeys(
  view: ViewVersion,
  hashes: ReadonlySet<string>,
  frame: FeatureFrame,
  quarantined: QuarantinedRow[],
): { frame: FeatureFrame; quarantined: QuarantinedRow[]; rowsErased: number } {
  if (hashes.size === 0) return { frame, quarantined, rowsErased: 0 };
  const erased = erasedKeyMatcher(
    view.definition.entities.map((e) => e.name),
    view.keyEncoding,
    hashes,
  );
  const keep: number[] = [];
  for (let i = 0; i < frame.length; i++) if (!erased(frame.entityKey[i])) keep.push(i);
  const erasedRow = erasedRowMatcher(view, hashes);
  const kept = quarantined.filter((q) => !erasedRow(q.row));
  const rowsErased = frame.length - keep.length + quarantined.length - kept.length;
  if (keep.length === frame.length) return { frame, quarantined: kept, rowsErased };
  const rows = Int32Array.from(keep);
  const columns: FeatureFrame['columns'] = {};
  for (const [name, column] of Object.entries(frame.columns)) columns[name] = gatherColumn(column, rows);
  return {
    frame: {
      length: keep.length,
      entityKey: keep.map((i) => frame.entityKey[i]),
      eventTs: Float64Array.from(keep, (i) => frame.eventTs[i]),
      createdTs: frame.createdTs && Float64Array.from(keep, (i) => frame.createdTs![i]),
      columns,
    },
    quarantined: kept,
    rowsErased,
  };
}
