import type pg from 'pg';
import type { Db } from '../db/client.js';
import { featureColumnName, resolveFeatureRefs, type FeatureRef } from './feature-refs.js';
import { KEY_SEPARATOR } from './key-codes.js';
import { computeRequestedOnDemand } from './on-demand-request.js';
import { readOfflineRows } from './offline-export.js';
import { asOfMatch, buildPointInTimeIndex, gatherColumn } from './point-in-time-join.js';
import type { Column } from './types.js';

/** An entity key: the key itself, or the values of an entity keyed by several columns (route). */
export type EntityKeyValue = string | readonly string[] | null;

export interface HistoricalRequest {
  /** Per entity name, one key per row (all arrays the same length). */
  entities: Record<string, readonly EntityKeyValue[]>;
  /** The time travelled to: one for every row, or one per row (epoch ms or Date). */
  asOf: number | Date | ReadonlyArray<number | Date>;
  features: FeatureRef[];
  /** Request fields of on-demand features, one value per row (e.g. `departure: [ms, …]`). */
  request?: Record<string, ReadonlyArray<unknown>>;
}

export interface HistoricalFeatures {
  rows: number;
  /** `<view>__<feature>` → the value as of each row's time; null when no feature row qualifies. */
  columns: Record<string, Column>;
  /** The view versions used (latest when the request named none). */
  views: Array<{ name: string; version: number }>;
}

const toMs = (t: number | Date) => (t instanceof Date ? t.getTime() : t);

/** Keys as stored (KEY_SEPARATOR); a blank key is missing. */
export function normalizeKey(value: EntityKeyValue): string | null {
  if (value === null) return null;
  const parts = typeof value === 'string' ? [value] : value;
  return parts.some((part) => part == null || part.trim() === '') ? null : parts.join(KEY_SEPARATOR.column);
}

/**
 * Time travel: the features of the given entities as of the given times, with exactly the
 * point-in-time semantics of training sets (same index, same match; only rows of the requested
 * entities within [min time - ttl, max time] are read from the offline store).
 */
export async function getHistoricalFeatures(
  deps: { db: Db; pool: pg.Pool },
  request: HistoricalRequest,
): Promise<HistoricalFeatures> {
  const lengths = new Set(Object.values(request.entities).map((keys) => keys.length));
  if (lengths.size > 1) throw new Error('invalid historical lookup: entity key arrays differ in length');
  const rows = [...lengths][0] ?? (Array.isArray(request.asOf) ? request.asOf.length : 0);
  const asOf = request.asOf;
  const ts = Array.isArray(asOf)
    ? Float64Array.from(asOf as ReadonlyArray<number | Date>, toMs)
    : new Float64Array(rows).fill(toMs(asOf as number | Date));
  if (ts.length !== rows) throw new Error(`invalid historical lookup: ${ts.length} times for ${rows} rows`);
  const bad = ts.findIndex((t) => !Number.isFinite(t));
  if (bad >= 0) throw new Error(`invalid historical lookup: asOf of row ${bad} is not a valid time`);

  const keysByEntity = new Map(
    Object.entries(request.entities).map(([entity, keys]) => [entity, keys.map(normalizeKey)]),
  );
  const { views: resolved, onDemand } = await resolveFeatureRefs(
    deps.db,
    request.features,
    (entity) => keysByEntity.has(entity),
    (entity) => `pass entities.${entity}`,
  );

  let minTs = Infinity;
  let maxTs = -Infinity;
  for (const t of ts) {
    minTs = Math.min(minTs, t);
    maxTs = Math.max(maxTs, t);
  }

  const columns: Record<string, Column> = {};
  for (const { view, features, entities, ttlMs } of resolved) {
    const perEntity = entities.map((e) => keysByEntity.get(e)!);
    const keys = Array.from({ length: rows }, (_, i) => {
      const parts = perEntity.map((k) => k[i]);
      return parts.includes(null) ? null : parts.join(KEY_SEPARATOR.entity);
    });
    const distinct = [...new Set(keys.filter((k): k is string => k !== null))];
    const offline = await readOfflineRows(deps.pool, view, {
      entityKeys: distinct,
      startMs: ttlMs === undefined || rows === 0 ? undefined : minTs - ttlMs,
      endMs: rows === 0 ? undefined : maxTs + 1,
    });
    const matches = asOfMatch(buildPointInTimeIndex(offline), keys, ts, ttlMs);
    for (const field of features)
      columns[featureColumnName(view.name, field.name)] = gatherColumn(offline.columns[field.name], matches);
  }
  const computed = computeRequestedOnDemand(
    onDemand,
    rows,
    (field, i) => request.request?.[field]?.[i],
    columns,
  );
  return {
    rows,
    columns: { ...columns, ...computed },
    views: [...resolved, ...onDemand].map(({ view }) => ({ name: view.name, version: view.version })),
  };
}
