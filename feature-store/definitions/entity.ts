import { assertIdentifier } from './identifiers.js';
import type { EntityDefinition } from './types.js';

/** Declares an entity: a name and the join key users pass at lookup time. */
export function defineEntity(spec: Omit<EntityDefinition, 'kind'>): EntityDefinition {
  assertIdentifier('entity', spec.name);
  assertIdentifier('join key', spec.joinKey);
  return { kind: 'entity', ...spec };
}
