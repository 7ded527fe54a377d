/**
 * The stored entity key of each request row for a view version: historical lookups and serving both
 * build keys here, spelled as the version stores them (definitions/entity-keys.ts).
 */
import { InvalidInputError } from '../definitions/errors.js';
import {
  encodeEntityKey,
  entityKeyOverLimit,
  joinEntityKeys,
  MAX_ENTITY_KEY_BYTES,
  type KeyEncoding,
} from '../definitions/entity-keys.js';
import type { ViewVersion } from '../registry/types.js';

/** An entity key as callers pass it: the key itself, or the parts of an entity keyed by several columns. */
export type EntityKeyValue = string | number | readonly string[] | null;

/** An entity of a view as key builders need it: its join key and how many columns make its key. */
export interface KeyedEntity {
  name: string;
  joinKey: string;
  columns: number;
}

export function keyedEntities(view: ViewVersion): KeyedEntity[] {
  return view.definition.entities.map((e) => {
    const columns = view.definition.entityColumns?.[e.name] ?? e.joinKey;
    return { name: e.name, joinKey: e.joinKey, columns: typeof columns === 'string' ? 1 : columns.length };
  });
}

/** A caller's mistake in a key (wrong shape, non-finite number): the message names the row and entity. */
export class EntityKeyError extends InvalidInputError {
  override name = 'EntityKeyError';
}

/**
 * One entity's key as stored; null when missing (null or blank). An entity keyed by several columns
 * takes its parts as an array; the legacy `joined` encoding also accepts the stored text (`SFO-LAX`),
 * which `escaped` refuses: `a-b-c` could be ('a-b', 'c') or ('a', 'b-c').
 */
export function entityKeyText(
  value: EntityKeyValue,
  entity: KeyedEntity,
  encoding: KeyEncoding,
  row: number,
): string | null {
  if (value === null) return null;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new EntityKeyError(`row ${row}: key "${entity.joinKey}" is ${value}`);
    value = String(value);
  }
  const parts = typeof value === 'string' ? [value] : value;
  if (parts.length !== entity.columns && !(encoding === 'joined' && typeof value === 'string')) {
    throw new EntityKeyError(
      `row ${row}: key "${entity.joinKey}" of entity "${entity.name}" has ${entity.columns} part(s), got ${parts.length}` +
        (entity.columns > 1 && typeof value === 'string' ? ' (pass the parts as an array)' : ''),
    );
  }
  return parts.some((part) => typeof part !== 'string' || part.trim() === '')
    ? null
    : encodeEntityKey(parts, encoding);
}

/**
 * The stored key of each of `rows` request rows for `view`; null where an entity's key is missing.
 * `valueOf` reads an entity's key value of a row (undefined: the row has none, an error).
 */
export function requestKeys(
  view: ViewVersion,
  rows: number,
  valueOf: (entity: KeyedEntity, row: number) => EntityKeyValue | undefined,
  entities: KeyedEntity[] = keyedEntities(view),
): Array<string | null> {
  const keys = new Array<string | null>(rows);
  const parts = new Array<string>(entities.length);
  for (let i = 0; i < rows; i++) {
    let missing = false;
    for (let k = 0; k < entities.length; k++) {
      const value = valueOf(entities[k], i);
      if (value === undefined)
        throw new EntityKeyError(
          `row ${i} has no key for entity "${entities[k].name}" of ${view.name}@v${view.version}: pass "${entities[k].joinKey}"`,
        );
      const text = entityKeyText(value, entities[k], view.keyEncoding, i);
      if (text === null) missing = true;
      else parts[k] = text;
    }
    const key = missing ? null : entities.length === 1 ? parts[0] : joinEntityKeys(parts);
    // Never stored (materialization quarantines such rows), and not worth a query or a cache entry.
    const bytes = key === null ? 0 : entityKeyOverLimit(key);
    if (bytes > 0)
      throw new EntityKeyError(
        `row ${i}: the key of ${view.name}@v${view.version} is ${bytes} bytes, at most ${MAX_ENTITY_KEY_BYTES}`,
      );
    keys[i] = key;
  }
  return keys;
}
