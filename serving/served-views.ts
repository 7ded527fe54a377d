/**
 * What serving derives once from a stored view version: feature positions, keyed entities, TTL and
 * its place in the row cache. One object per version ever served, so notifications invalidate
 * through it and request plans can be memoized on it. Resolution itself is the feature store's
 * (one cache for stored and on-demand views: FeatureStore.resolver).
 */
import {
  keyedEntities,
  parseDuration,
  type FeatureField,
  type KeyedEntity,
  type ViewVersion,
} from '../feature-store/index.js';
import { CachedView } from './feature-cache.js';

export interface ServedView {
  id: string;
  name: string;
  version: number;
  view: ViewVersion;
  onlineTable: string;
  features: FeatureField[];
  featureIndex: Map<string, number>;
  /** Entities in key order: the request key to read (`joinKey`) and how many parts make it. */
  entities: KeyedEntity[];
  ttlMs: number | undefined;
  cache: CachedView;
}

export class ServedViews {
  private readonly versions = new Map<string, ServedView>();

  of(view: ViewVersion): ServedView {
    const id = `${view.name}@v${view.version}`;
    let served = this.versions.get(id);
    if (!served) {
      served = {
        id,
        name: view.name,
        version: view.version,
        view,
        onlineTable: view.tables.online,
        features: view.features,
        featureIndex: new Map(view.features.map((f, i) => [f.name, i])),
        entities: keyedEntities(view),
        ttlMs: view.definition.ttl ? parseDuration(view.definition.ttl) : undefined,
        cache: new CachedView(id),
      };
      this.versions.set(id, served);
    }
    return served;
  }

  /** A version this server has served (and may have cached rows of). */
  known(name: string, version: number): ServedView | undefined {
    return this.versions.get(`${name}@v${version}`);
  }
}
