import { createHash } from 'node:crypto';
import type { FeatureViewDefinition } from './types.js';

/**
 * The part of a view that defines its data: entities (name, join key), key columns, source,
 * features, transformation and TTL. Description and tags are metadata and never create a version.
 */
export function versionedPart(view: FeatureViewDefinition): Record<string, unknown> {
  return {
    entities: view.entities.map((e) => ({ name: e.name, joinKey: e.joinKey })),
    entityColumns: view.entityColumns ?? null,
    source: view.source,
    ttl: view.ttl ?? null,
    features: view.features
      ? Object.fromEntries(
          Object.entries(view.features).map(([k, f]) => [k, typeof f === 'string' ? { type: f } : f]),
        )
      : null,
    transform: view.transform ?? null,
  };
}

/** Canonical JSON: keys sorted at every level, so equal definitions hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, (v as Record<string, unknown>)[k]]),
        )
      : v,
  );
}

export function fingerprint(view: FeatureViewDefinition): string {
  return createHash('sha256')
    .update(canonicalJson(versionedPart(view)))
    .digest('hex');
}

/** Human-readable differences between two versioned parts, one line per changed leaf. */
export function diffDefinitions(before: unknown, after: unknown, path = ''): string[] {
  if (canonicalJson(before) === canonicalJson(after)) return [];
  const isObject = (v: unknown): v is Record<string, unknown> =>
    !!v && typeof v === 'object' && !Array.isArray(v);
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => diffDefinitions(before[k], after[k], path ? `${path}.${k}` : k));
  }
  const show = (v: unknown) => (v === undefined ? '(absent)' : canonicalJson(v));
  return [`${path || '(root)'}: ${show(before)} -> ${show(after)}`];
}
