/**
 * In-process cache of online rows per (view version, entity key), bounded (least recently used go
 * first). Invalidation works on a clock: a read notes the clock when it begins (`stamp()`), and
 * invalidating a view, or everything, moves its valid-from past the clock. A read that began before
 * an invalidation can then neither hit nor store its rows: a read racing a commit never puts
 * pre-commit values back. While disabled (notifications may be missed) nothing is served or stored.
 */

/** One entity's stored row, as read: TTLs are applied per request, never cached. */
export interface CachedRow {
  /** Event time (epoch ms); NaN when the entity has no row. */
  eventTs: number;
  /** The view's features as Column slots, in the view's order; null when the entity has no row. */
  values: Array<number | string | null> | null;
}

/** A view version's place in the cache. */
export class CachedView {
  /** Entries stamped earlier than this are stale. */
  validFrom = 0;

  constructor(readonly id: string) {}
}

interface Entry {
  view: CachedView;
  row: CachedRow;
  stamp: number;
}

export class OnlineRowCache {
  private clock = 0;
  private validFrom = 0;
  private enabled = false;
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** The clock at the start of a read; `set` only stores rows of reads still current. */
  stamp(): number {
    return this.clock;
  }

  get(view: CachedView, entityKey: string): CachedRow | undefined {
    if (!this.enabled) return undefined;
    const key = entryKey(view, entityKey);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.view !== view || entry.stamp < view.validFrom) return undefined;
    this.entries.set(key, entry); // most recently used last
    return entry.row;
  }

  set(view: CachedView, entityKey: string, row: CachedRow, stamp: number): void {
    if (!this.enabled || stamp < this.validFrom || stamp < view.validFrom) return;
    const key = entryKey(view, entityKey);
    this.entries.delete(key);
    this.entries.set(key, { view, row, stamp });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  /** The view's rows changed: its entries and in-flight reads are stale. */
  invalidate(view: CachedView): void {
    view.validFrom = ++this.clock;
  }

  /** Serve and store again, from empty (changes may have been missed while disabled). */
  enable(): void {
    this.clear();
    this.enabled = true;
  }

  /** Stop serving and storing: changes may be missed from now on. */
  disable(): void {
    this.clear();
    this.enabled = false;
  }

  clear(): void {
    this.validFrom = ++this.clock;
    this.entries.clear();
  }
}

// View ids (`name@vN`) never hold a NUL, so the two parts cannot run into each other.
const entryKey = (view: CachedView, entityKey: string) => `${view.id}\u0000${entityKey}`;
