/**
 * Resolution of a request's feature refs against the registry: each view version pinned (latest
 * when omitted) and checked — known views and features, no column twice, a key for every entity,
 * materialized data present, on-demand inputs requested too. Training sets and historical lookups
 * resolve through here, so both fail the same way on the same input.
 */
import type { FeatureField } from '../definitions/types.js';
import { parseDuration } from '../definitions/duration.js';
import { ledgerFingerprint } from '../materialization/ledger.js';
import type { ResolvedOnDemand } from '../on-demand/compute.js';
import type { ViewResolver } from '../registry/resolver.js';
import type { ViewVersion } from '../registry/types.js';
import type { Db } from '../../db/client.js';
import { featureColumnName, groupRefsByView, type FeatureRef } from './feature-ref.js';
import { InvalidInputError } from '../definitions/errors.js';

/** One stored view version of a request, pinned, with the features asked of it. */
export interface ResolvedView {
  view: ViewVersion;
  features: FeatureField[];
  /** Entities of the view in key order (`a|b` for several). */
  entities: string[];
  ttlMs?: number;
  /** Fingerprint of the view's materialized data (the chunk ledger). */
  dataHash: string;
}

/** The feature of a registered version that `ref` names; a clear error listing the others when none. */
export function featureOf(
  view: { name: string; version: number; features: FeatureField[] },
  feature: string,
  kind = '',
): FeatureField {
  const field = view.features.find((f) => f.name === feature);
  if (!field) {
    throw new InvalidInputError(
      `unknown feature "${feature}" in ${kind}${view.name}@v${view.version}; available: ${view.features.map((f) => f.name).join(', ')}`,
    );
  }
  return field;
}

/** Checks that the feature inputs of on-demand views are among the stored columns fetched. */
export function assertOnDemandInputs(onDemand: ResolvedOnDemand[], storedColumns: Set<string>): void {
  for (const { view } of onDemand) {
    const missing = (view.definition.featureInputs ?? []).filter((c) => !storedColumns.has(c));
    if (missing.length > 0) {
      throw new InvalidInputError(
        `invalid request: on-demand view ${view.name}@v${view.version} reads ${missing.join(', ')}; request ${missing.length > 1 ? 'them' : 'it'} too`,
      );
    }
  }
}

/**
 * Resolves a request's refs to stored views (with their entities, TTL and data fingerprint) and
 * on-demand views (code loaded), and checks everything a build or lookup needs before reading data.
 */
export async function resolveFeatureRefs(
  deps: { db: Db; resolver: ViewResolver },
  refs: FeatureRef[],
  hasEntity: (entity: string) => boolean,
  entityHint: (entity: string) => string,
): Promise<{ views: ResolvedView[]; onDemand: ResolvedOnDemand[] }> {
  if (refs.length === 0) throw new InvalidInputError('invalid request: no features requested');
  const views: ResolvedView[] = [];
  const onDemand: ResolvedOnDemand[] = [];
  for (const group of groupRefsByView(refs)) {
    const registered = await deps.resolver.resolve(group.name, group.version);
    if (!registered) {
      throw new InvalidInputError(
        group.version === undefined
          ? `unknown feature view "${group.name}": run kaizen apply first`
          : `unknown version ${group.name}@v${group.version}`,
      );
    }
    if (registered.kind === 'onDemand') {
      const { view } = registered;
      onDemand.push({ view, features: group.refs.map((r) => featureOf(view, r.feature, 'on-demand view ')) });
      continue;
    }
    const { view } = registered;
    const features = group.refs.map((r) => featureOf(view, r.feature));
    const entities = view.definition.entities.map((e) => e.name);
    for (const entity of entities) {
      if (!hasEntity(entity)) {
        throw new InvalidInputError(
          `invalid request: no key for entity "${entity}" of ${view.name}@v${view.version} (${entityHint(entity)})`,
        );
      }
    }
    const fingerprint = await ledgerFingerprint(deps.db, view);
    if (fingerprint.chunks === 0) {
      throw new InvalidInputError(
        `invalid request: feature view ${view.name}@v${view.version} has no materialized data; run kaizen materialize ${view.name}`,
      );
    }
    const ttl = view.definition.ttl;
    views.push({
      view,
      features,
      entities,
      ttlMs: ttl ? parseDuration(ttl) : undefined,
      dataHash: fingerprint.hash,
    });
  }
  assertOnDemandInputs(
    onDemand,
    new Set(views.flatMap((r) => r.features.map((f) => featureColumnName(r.view.name, f.name)))),
  );
  return { views, onDemand };
}
