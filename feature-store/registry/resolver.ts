/**
 * `view[@vN]` → the registered version it names, stored or on demand: the one resolution cache of
 * every path that takes feature refs (training sets, historical lookups, servers). Pinned versions
 * are immutable and cached for good; "latest" and unknown names are re-read after `latestTtlMs`
 * (0: on every call) or when `forgetLatest` says a view may have moved.
 */
import type { Db } from '../../db/client.js';
import { findOnDemandVersion } from './on-demand.js';
import type { OnDemandVersion, ViewVersion } from './types.js';
import { findViewVersion } from './views.js';

export type RegisteredView =
  { kind: 'stored'; view: ViewVersion } | { kind: 'onDemand'; view: OnDemandVersion };

interface Lookup {
  result: Promise<RegisteredView | null>;
  /** Once settled: the answer, so callers need not wait on a promise. */
  settled: { view: RegisteredView | null } | null;
  /** performance.now() after which it is looked up again. */
  until: number;
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
    if (cached && cached.until > now) return cached.settled ? cached.settled.view : cached.result;
    if (this.lookups.size >= MAX_LOOKUPS) this.lookups.clear();
    const result = lookUp(this.db, name, version);
    const lookup: Lookup = { result, settled: null, until: now + this.latestTtlMs };
    result.then(
      (view) => {
        lookup.settled = { view };
        if (view && version !== undefined) lookup.until = Infinity; // a pinned version never changes
      },
      // A failed look-up (database down, code that cannot load) is retried by the next call.
      () => this.lookups.get(key) === lookup && this.lookups.delete(key),
    );
    if (this.latestTtlMs > 0 || version !== undefined) this.lookups.set(key, lookup);
    return result;
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

async function lookUp(db: Db, name: string, version: number | undefined): Promise<RegisteredView | null> {
  const stored = await findViewVersion(db, name, version);
  if (stored) return { kind: 'stored', view: stored };
  const onDemand = await findOnDemandVersion(db, name, version);
  return onDemand ? { kind: 'onDemand', view: onDemand } : null;
}
