/**
 * `view[@vN]` → the stored feature-view version a server reads, cached. Pinned versions are
 * immutable and cached for good; "latest" is re-read after `latestTtlMs` (apply sends no
 * notification) or as soon as a materialization of the view commits (it may be a new version).
 * Names that are not stored feature views (on-demand views, typos) are remembered as such for the
 * same short time, so each request does not ask the registry again.
 */
import type { Db } from '../db/client.js';
import { parseDuration } from '../feature-store/duration.js';
import { findViewVersion, type ViewVersion } from '../feature-store/registry.js';
import type { FeatureField } from '../feature-store/types.js';
import { CachedView } from './feature-cache.js';

/** A stored view version with what serving derives from its definition once. */
export interface ServedView {
  id: string;
  name: string;
  version: number;
  onlineTable: string;
  features: FeatureField[];
  featureIndex: Map<string, number>;
  /** Entities in key order: the request key to read (`joinKey`) and how many columns it joins. */
  entities: Array<{ name: string; joinKey: string; columns: number }>;
  ttlMs: number | undefined;
  cache: CachedView;
}

interface Lookup {
  result: Promise<ServedView | null>;
  /** Once settled: the answer, so requests need not wait on a promise. */
  settled: { view: ServedView | null } | null;
  /** performance.now() after which it is looked up again. */
  until: number;
}

/** Lookups of client-supplied names are bounded: past this, they are all forgotten at once. */
const MAX_LOOKUPS = 10_000;

export class ViewResolver {
  /** Every version ever served, one object each: notifications invalidate through it. */
  private readonly versions = new Map<string, ServedView>();
  private readonly lookups = new Map<string, Lookup>();

  constructor(
    private readonly db: Db,
    private readonly latestTtlMs: number,
  ) {}

  /** The view version, or null when `name` is no stored feature view; synchronous when cached. */
  resolve(name: string, version: number | undefined): ServedView | null | Promise<ServedView | null> {
    const key = `${name}@${version ?? 'latest'}`;
    const now = performance.now();
    const cached = this.lookups.get(key);
    if (cached && cached.until > now) return cached.settled ? cached.settled.view : cached.result;
    if (this.lookups.size >= MAX_LOOKUPS) this.lookups.clear();
    const result = findViewVersion(this.db, name, version).then((view) => (view ? this.served(view) : null));
    const lookup: Lookup = { result, settled: null, until: now + this.latestTtlMs };
    result.then(
      (view) => {
        lookup.settled = { view };
        if (view && version !== undefined) lookup.until = Infinity; // a pinned version never changes
      },
      // A failed lookup (database down) is retried by the next request.
      () => this.lookups.get(key) === lookup && this.lookups.delete(key),
    );
    this.lookups.set(key, lookup);
    return result;
  }

  /** A version this server has served (and may have cached rows of). */
  known(name: string, version: number): ServedView | undefined {
    return this.versions.get(`${name}@v${version}`);
  }

  /** "latest" of `name` may have moved (or of every view, when no name is given). */
  forgetLatest(name?: string): void {
    if (name === undefined) {
      for (const key of this.lookups.keys()) if (key.endsWith('@latest')) this.lookups.delete(key);
    } else {
      this.lookups.delete(`${name}@latest`);
    }
  }

  private served(view: ViewVersion): ServedView {
    const id = `${view.name}@v${view.version}`;
    let served = this.versions.get(id);
    if (!served) {
      const { definition } = view;
      served = {
        id,
        name: view.name,
        version: view.version,
        onlineTable: view.tables.online,
        features: view.features,
        featureIndex: new Map(view.features.map((f, i) => [f.name, i])),
        entities: definition.entities.map((e) => {
          const columns = definition.entityColumns?.[e.name] ?? e.joinKey;
          return {
            name: e.name,
            joinKey: e.joinKey,
            columns: typeof columns === 'string' ? 1 : columns.length,
          };
        }),
        ttlMs: definition.ttl ? parseDuration(definition.ttl) : undefined,
        cache: new CachedView(id),
      };
      this.versions.set(id, served);
    }
    return served;
  }
}
