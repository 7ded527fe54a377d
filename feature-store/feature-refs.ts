import { createHash } from 'node:crypto';
import { and, count, eq, max, sum } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { materializationChunks } from '../db/schema.js';
import { parseDuration } from './duration.js';
import { canonicalJson } from './fingerprint.js';
import { assertOnDemandInputs, splitOnDemandRefs, type ResolvedOnDemand } from './on-demand-registry.js';
import { getViewVersion, parseViewRef, type ViewVersion } from './registry.js';
import type { FeatureField } from './types.js';

/** A requested feature: `view[@vN]:feature`; no version means the latest. */
export interface FeatureRef {
  view: string;
  version?: number;
  feature: string;
}

/** One view version of a request, pinned, with the features asked of it. */
export interface ResolvedView {
  view: ViewVersion;
  features: FeatureField[];
  /** Entities of the view in key order (`a|b` for several). */
  entities: string[];
  ttlMs?: number;
  /** Fingerprint of the view's materialized data (the chunk ledger). */
  dataHash: string;
}

/** Parses `view[@vN]:feature,…`. */
export function parseFeatureRefs(text: string): FeatureRef[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((ref) => {
      const [view, feature, extra] = ref.split(':');
      if (!feature || extra !== undefined)
        throw new Error(`invalid feature reference "${ref}": expected <view>[@vN]:<feature>`);
      const { name, version } = parseViewRef(view);
      return { view: name, version, feature };
    });
}

export const featureColumnName = (view: string, feature: string) => `${view}__${feature}`;

/** A model's pinned feature is a ref (`view@vN:feature`) or else a request field, read as named. */
export const isFeatureRef = (pinned: string) => pinned.includes(':');

/** The input column of each pinned feature: `<view>__<feature>` for a ref, a request field's own name. */
export function pinnedFeatureColumns(pinned: readonly string[]): string[] {
  return pinned.map((feature) => {
    if (!isFeatureRef(feature)) return feature;
    const [ref] = parseFeatureRefs(feature);
    return featureColumnName(ref.view, ref.feature);
  });
}

async function dataFingerprint(db: Db, view: ViewVersion): Promise<{ chunks: number; hash: string }> {
  const [row] = await db
    .select({
      chunks: count(),
      rows: sum(materializationChunks.rowsWritten),
      last: max(materializationChunks.committedAt),
    })
    .from(materializationChunks)
    .where(
      and(eq(materializationChunks.viewName, view.name), eq(materializationChunks.version, view.version)),
    );
  const hash = createHash('sha256').update(canonicalJson(row)).digest('hex').slice(0, 16);
  return { chunks: Number(row?.chunks ?? 0), hash };
}

/**
 * Pins the view versions of a request (latest when omitted) and checks it: known views and
 * features, no column twice, a key for every entity (`hasEntity`), materialized data present.
 * Shared by training sets and historical lookups so both fail the same way on the same input.
 */
async function resolveStoredRefs(
  db: Db,
  refs: FeatureRef[],
  hasEntity: (entity: string) => boolean,
  entityHint: (entity: string) => string,
): Promise<ResolvedView[]> {
  const byView = new Map<string, FeatureRef[]>();
  for (const ref of refs) {
    const key = `${ref.view}@${ref.version ?? 'latest'}`;
    byView.set(key, [...(byView.get(key) ?? []), ref]);
  }
  const resolved: ResolvedView[] = [];
  const columns = new Set<string>();
  for (const group of byView.values()) {
    const view = await getViewVersion(db, group[0].view, group[0].version);
    const features = group.map((ref) => {
      const field = view.features.find((f) => f.name === ref.feature);
      if (!field) {
        throw new Error(
          `unknown feature "${ref.feature}" in ${view.name}@v${view.version}; available: ${view.features.map((f) => f.name).join(', ')}`,
        );
      }
      const column = featureColumnName(view.name, field.name);
      if (columns.has(column)) throw new Error(`invalid request: feature column ${column} requested twice`);
      columns.add(column);
      return field;
    });
    const entities = view.definition.entities.map((e) => e.name);
    for (const entity of entities) {
      if (!hasEntity(entity)) {
        throw new Error(
          `invalid request: no key for entity "${entity}" of ${view.name}@v${view.version} (${entityHint(entity)})`,
        );
      }
    }
    const fingerprint = await dataFingerprint(db, view);
    if (fingerprint.chunks === 0) {
      throw new Error(
        `invalid request: feature view ${view.name}@v${view.version} has no materialized data; run kaizen materialize ${view.name}`,
      );
    }
    const ttl = view.definition.ttl;
    resolved.push({
      view,
      features,
      entities,
      ttlMs: ttl ? parseDuration(ttl) : undefined,
      dataHash: fingerprint.hash,
    });
  }
  return resolved;
}

/**
 * Resolves a request's refs: stored views (resolveStoredRefs) and on-demand views, whose feature
 * inputs must be among the stored features requested. Shared by training sets and historical lookups.
 */
export async function resolveFeatureRefs(
  db: Db,
  refs: FeatureRef[],
  hasEntity: (entity: string) => boolean,
  entityHint: (entity: string) => string,
): Promise<{ views: ResolvedView[]; onDemand: ResolvedOnDemand[] }> {
  if (refs.length === 0) throw new Error('invalid request: no features requested');
  const { stored, onDemand } = await splitOnDemandRefs(db, refs);
  const views = await resolveStoredRefs(db, stored, hasEntity, entityHint);
  assertOnDemandInputs(
    onDemand,
    new Set(views.flatMap((r) => r.features.map((f) => featureColumnName(r.view.name, f.name)))),
  );
  return { views, onDemand };
}
