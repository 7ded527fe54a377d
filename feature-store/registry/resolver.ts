/**
 * `view[@vN]` → the registered version it names, stored or on demand: the one resolution cache of
 * every path that takes feature refs (training sets, historical lookups, servers). Pinned versions
 * are immutable and cached for good; "latest" and unknown names are re-read after `latestTtlMs`
 * (0: on every call) or when `forgetLatest` says a view may have moved. One still in use is re-read in
 * the background once half its TTL has passed, answering from the cache meanwhile: under steady
 * traffic no call waits for the registry.
 */
import type { Db } from '../../db/client.js';
import { findOnDemandVersion } from './on-demand.js';
import type { OnDemandVersion, ViewVersion } from './types.js';
import { findViewVersion } from './views.js';

export type RegisteredView =
  { kind: 'stored'; view: ViewVersion } | { kind: 'onDemand'; view: OnDemandVersion };

interface Lookup {
  name: string;
  version: number | undefined;
  result: Promise<RegisteredView | null>;
  /** Once settled: the answer, so callers need not wait on a promise. */
  settled: { view: RegisteredView | null } | null;
  /** performance.now() after which it is looked up again. */
  until: number;
  /** performance.now() after which a call re-reads it in the background (while none does). */
  refreshAt: number;
  refreshing: boolean;
}

/** Look-ups of client-supplied names are bounded: past this, they are all forgotten at once. */
const MAX_LOOKUPS = 10_000;

export class ViewResolver {
  private readonly lookups = new Map<string, Lookup>();

  constructor(
    private readonly db: Db,
    private readonly latestTtlMs: number,
  ) {}

  /** The registered version, or null when no view has that name (and version); synchronous when cached. */
  resolve(name: string, version?: number): RegisteredView | null | Promise<RegisteredView | null> {
    const key = `${name}@${version ?? 'latest'}`;
    const now = performance.now();
    const cached = this.lookups.get(key);
    if (cached && cached.until > now) {
      if (cached.settled && !cached.refreshing && now >= cached.refreshAt) this.refresh(key, cached, now);
      return cached.settled ? cached.settled.view : cached.result;
    }
    if (this.lookups.size >= MAX_LOOKUPS) this.lookups.clear();
    const lookup = this.lookUp(name, version, now);
    lookup.result.then(
      (view) => settle(lookup, view),
      // A failed look-up (database down, code that cannot load) is retried by the next call.
      () => this.lookups.get(key) === lookup && this.lookups.delete(key),
    );
    if (this.latestTtlMs > 0 || version !== undefined) this.lookups.set(key, lookup);
    return lookup.result;
  }

  private lookUp(name: string, version: number | undefined, now: number): Lookup {
    return {
      name,
      version,
      result: lookUp(this.db, name, version),
      settled: null,
      until: now + this.latestTtlMs,
      refreshAt: now + this.latestTtlMs / 2,
      refreshing: false,
    };
  }

  /** Replaces `stale` once re-read, unless forgetLatest dropped it meanwhile (the answer may predate that). */
  private refresh(key: string, stale: Lookup, now: number): void {
    stale.refreshing = true;
    const next = this.lookUp(stale.name, stale.version, now);
    next.result.then(
      (view) => {
        settle(next, view);
        if (this.lookups.get(key) === stale) this.lookups.set(key, next);
      },
      // The cached answer stands until it expires; the next call past refreshAt tries again.
      () => (stale.refreshing = false),
    );
  }

  /** "latest" of `name` may have moved (or of every view, when no name is given). */
  forgetLatest(name?: string): void {
    if (name === undefined) {
      for (const key of this.lookups.keys()) if (key.endsWith('@latest')) this.lookups.delete(key);
    } else {
      this.lookups.delete(`${name}@latest`);
    }
  }
}

function settle(lookup: Lookup, view: RegisteredView | null): void {
  lookup.settled = { view };
  // A pinned version never changes.
  if (view && lookup.version !== undefined) lookup.until = lookup.refreshAt = Infinity;
}

async function lookUp(db: Db, name: string, version: number | undefined): Promise<RegisteredView | null> {
  const stored = await findViewVersion(db, name, version);
  if (stored) return { kind: 'stored', view: stored };
  const onDemand = await findOnDemandVersion(db, name, version);
  return onDemand ? { kind: 'onDemand', view: onDemand } : null;
}
