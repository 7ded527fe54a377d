/**
 * Erased entity keys in a label source's rows (feature-store/erasure): label keys join the source's
 * entities and request fields as a view's keys join entities; its raw rows hold each entity's key
 * columns. Ingestion leaves such rows out; erasure deletes them.
 */
import { erasedKeyMatcher, erasedSourceRowMatcher } from '../../feature-store/index.js';
import { labelKeyFieldNames, type LabelSourceDefinition } from './label-source.js';

export function erasedLabelMatchers(def: LabelSourceDefinition, hashes: ReadonlySet<string>) {
  const entities = def.entities.map((e) => {
    const columns = def.entityColumns?.[e.name] ?? e.joinKey;
    return { entity: e.name, columns: typeof columns === 'string' ? [columns] : columns };
  });
  return {
    key: erasedKeyMatcher(labelKeyFieldNames(def), 'escaped', hashes),
    row: erasedSourceRowMatcher(entities, 'escaped', hashes),
  };
}
