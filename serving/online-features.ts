/**
 * Online features of a server: `view[@vN]:feature` refs for entity rows, one online-store query per
 * view for the rows the cache does not hold. The cache is invalidated by the NOTIFY each
 * materialization chunk sends on commit (so a commit is served within milliseconds, and a
 * half-written materialization never, as its NOTIFY is only delivered after commit); while that
 * listener is down the cache is bypassed. TTLs are applied at request time, cached rows included.
 * A request served from the cache awaits nothing.
 */
import {
  emptyColumn,
  FEATURE_CODECS,
  featureColumnName,
  featureOf,
  MATERIALIZATION_CHANNEL,
  onlineStatus,
  queryOnlineRows,
  type Column,
  type FeatureField,
  type FeatureStore,
  type OnlineStatus,
  type RegisteredView,
  type ResolvedOnDemand,
} from '../feature-store/index.js';
import type { EntityRow, OnlineFeatureBatch, OnlineFeatures } from './context.js';
import { OnlineRowCache, type CachedRow } from './feature-cache.js';
import type { ServingMetrics } from './metrics.js';
import { listenForNotifications } from './notifications.js';
import { computeServedOnDemand } from './on-demand-features.js';
import { asBadRequest, entityKeys, RequestPlans, unknownView, type RequestPlan } from './request-plan.js';
import { ServedViews, type ServedView } from './served-views.js';

export interface OnlineFeaturesOptions {
  /**
   * The feature store of this server: online reads go through its pool (the listener's connection
   * settings come from it too) and refs resolve through its resolver, whose "latest" TTL bounds how
   * long a new version goes unnoticed when no materialization of the view commits.
   */
  store: FeatureStore;
  metrics: ServingMetrics;
  /** Cached (view version, entity) rows at most. */
  cacheEntries?: number;
  /** The clock TTLs are checked against (epoch ms); tests pin it. */
  now?: () => number;
  log?: (line: string) => void;
}

const DEFAULT_CACHE_ENTRIES = 100_000;

/** The features a request reads from one stored view version: output column and place in the row. */
interface StoredPart {
  view: ServedView;
  columns: Array<{ name: string; field: FeatureField; index: number }>;
}

/** A request plan against the view versions it resolved to. */
interface PlanParts {
  views: Array<RegisteredView | null>;
  stored: StoredPart[];
  onDemand: ResolvedOnDemand[];
}

/** A view version's part of the answer: per row, its stored row (null: a null key, or not read yet). */
interface ViewRows extends StoredPart {
  rows: Array<CachedRow | null>;
}

const MISSING: CachedRow = { eventTs: NaN, values: null };

export function createOnlineFeatures(options: OnlineFeaturesOptions): OnlineFeatures {
  const { store, metrics, now = Date.now, log = (line: string) => console.error(line) } = options;
  const { pool, resolver } = store;
  const cache = new OnlineRowCache(options.cacheEntries ?? DEFAULT_CACHE_ENTRIES);
  const served = new ServedViews();
  const plans = new RequestPlans();
  const hits = metrics.featureCacheLookups.labels('hit');
  const misses = metrics.featureCacheLookups.labels('miss');

  const listener = listenForNotifications({
    pool,
    channel: MATERIALIZATION_CHANNEL,
    name: 'kaizen-feature-cache',
    onNotification(payload) {
      const chunk = parseChunkNotification(payload);
      if (!chunk) return log(`feature cache: ignoring malformed notification ${JSON.stringify(payload)}`);
      resolver.forgetLatest(chunk.view); // the chunk may belong to a new version
      const view = served.known(chunk.view, chunk.version);
      if (view) cache.invalidate(view.cache);
    },
    onListening() {
      resolver.forgetLatest();
      cache.enable();
    },
    onLost: () => cache.disable(),
    log,
  });

  /** One query for the entities the cache lacked (`wanted`: key → rows asking for it). */
  async function fetchRows(part: ViewRows, wanted: Map<string, number[]>, stamp: number): Promise<void> {
    const { view } = part;
    const stored = await queryOnlineRows(pool, view.onlineTable, view.features, [...wanted.keys()]);
    for (const entityKey of wanted.keys()) {
      const found = stored.get(entityKey);
      const row: CachedRow = found
        ? {
            eventTs: (found.event_ts as Date).getTime(),
            values: view.features.map((f) => fromDatabase(f, found[f.name])),
          }
        : MISSING;
      cache.set(view.cache, entityKey, row, stamp);
      for (const i of wanted.get(entityKey)!) part.rows[i] = row;
    }
  }

  /**
   * Stored rows of every view, from the cache where it holds them, else one query per view; only
   * a promise when something had to be read.
   */
  function readViews(stored: StoredPart[], rows: EntityRow[]): ViewRows[] | Promise<ViewRows[]> {
    const keys = stored.map(({ view }) => entityKeys(view, rows)); // all checked before any read
    const stamp = cache.stamp();
    const fetches: Promise<void>[] = [];
    let hit = 0;
    let missed = 0;
    const parts = stored.map(({ view, columns }, k): ViewRows => {
      const part: ViewRows = { view, columns, rows: new Array<CachedRow | null>(rows.length).fill(null) };
      const wanted = new Map<string, number[]>();
      keys[k].forEach((key, i) => {
        if (key === null) return;
        const cached = cache.get(view.cache, key);
        if (cached) {
          part.rows[i] = cached;
          hit++;
          return;
        }
        missed++;
        const positions = wanted.get(key);
        if (positions) positions.push(i);
        else wanted.set(key, [i]);
      });
      if (wanted.size > 0) fetches.push(fetchRows(part, wanted, stamp));
      return part;
    });
    if (hit > 0) hits.inc(hit);
    if (missed > 0) misses.inc(missed);
    return fetches.length > 0 ? Promise.all(fetches).then(() => parts) : parts;
  }

  /** Per request plan, the parts of its last resolution: reused while every view resolves the same. */
  const planParts = new WeakMap<RequestPlan, PlanParts>();
  function partsOf(plan: RequestPlan, views: Array<RegisteredView | null>): PlanParts {
    const memo = planParts.get(plan);
    if (memo && memo.views.every((view, k) => view === views[k])) return memo;
    const parts = planPartsOf(plan, views, served);
    planParts.set(plan, parts);
    return parts;
  }

  return {
    async get(refs, rows) {
      const plan = plans.plan(refs);
      let resolved = plan.views.map((r) => resolver.resolve(r.name, r.version));
      if (resolved.some((view) => view instanceof Promise)) resolved = await Promise.all(resolved);
      const { stored, onDemand } = partsOf(plan, resolved as Array<RegisteredView | null>);
      const read = readViews(stored, rows);
      const batch = assemble(read instanceof Promise ? await read : read, rows.length, now());
      if (onDemand.length > 0) {
        const computed = computeServedOnDemand(onDemand, rows, batch);
        Object.assign(batch.columns, computed.columns);
        batch.views.push(...computed.views);
      }
      // Columns in request order, as callers list them.
      const columns: Record<string, Column> = {};
      for (const name of plan.columns) columns[name] = batch.columns[name];
      return { ...batch, columns };
    },

    async close() {
      await listener.close();
      cache.disable();
    },
  };
}

function parseChunkNotification(payload: string | undefined): { view: string; version: number } | null {
  try {
    const { view, version } = JSON.parse(payload ?? '') as { view?: unknown; version?: unknown };
    return typeof view === 'string' && typeof version === 'number' ? { view, version } : null;
  } catch {
    return null;
  }
}

function planPartsOf(plan: RequestPlan, views: Array<RegisteredView | null>, served: ServedViews): PlanParts {
  const stored: StoredPart[] = [];
  const onDemand: ResolvedOnDemand[] = [];
  plan.views.forEach((request, k) => {
    const registered = views[k];
    if (!registered) unknownView(request.name, request.version);
    if (registered.kind === 'onDemand') {
      const { view } = registered;
      const features = request.refs.map((ref) =>
        asBadRequest(() => featureOf(view, ref.feature, 'on-demand view ')),
      );
      return void onDemand.push({ view, features });
    }
    const view = served.of(registered.view);
    const columns = request.refs.map(({ feature }) => {
      const field = asBadRequest(() => featureOf(view.view, feature));
      const index = view.featureIndex.get(field.name)!;
      return { name: featureColumnName(view.name, feature), field, index };
    });
    stored.push({ view, columns });
  });
  return { views, stored, onDemand };
}

/** pg's values as Column slots hold them (timestamps as epoch ms, bools as 0/1); null stays null. */
const fromDatabase = (field: FeatureField, value: unknown) =>
  value === null || value === undefined ? null : FEATURE_CODECS[field.type].fromPg(value);

/** The columnar answer: TTL applied at `nowMs`; missing and expired rows are null. */
function assemble(views: ViewRows[], rows: number, nowMs: number): OnlineFeatureBatch {
  const batch: OnlineFeatureBatch = { rows, columns: {}, views: [] };
  for (const { view, columns, rows: stored } of views) {
    const status = new Array<OnlineStatus>(rows);
    const eventTs = new Array<number | null>(rows);
    const live = new Uint8Array(rows);
    for (let i = 0; i < rows; i++) {
      const row = stored[i];
      eventTs[i] = row === null || row.values === null ? null : row.eventTs;
      status[i] = onlineStatus(eventTs[i], view.ttlMs, nowMs);
      live[i] = status[i] === 'present' ? 1 : 0;
    }
    batch.views.push({ name: view.name, version: view.version, onDemand: false, status, eventTs });
    for (const { name, field, index } of columns) batch.columns[name] = gather(field, index, stored, live);
  }
  return batch;
}

/** One feature's column over the rows; null where not live or stored null. */
function gather(
  field: FeatureField,
  index: number,
  stored: Array<CachedRow | null>,
  live: Uint8Array,
): Column {
  const column = emptyColumn(field.type, live.length);
  for (let i = 0; i < live.length; i++) {
    const value = live[i] ? stored[i]!.values![index] : null;
    if (value === null) continue;
    column.values[i] = value;
    column.valid[i] = 1;
  }
  return column;
}
