import type pg from 'pg';
import type { Db } from '../../db/client.js';
import { featureColumnName, type FeatureRef } from '../refs/feature-ref.js';
import { requestKeys, type EntityKeyValue } from '../refs/request-keys.js';
import { resolveFeatureRefs } from '../refs/resolve.js';
import type { ViewResolver } from '../registry/resolver.js';
import { computeRequestedOnDemand } from '../on-demand/compute.js';
import { readOfflineRows } from '../offline/export.js';
import { asOfMatch, buildPointInTimeIndex, gatherColumn } from './join.js';
import type { Column } from '../definitions/types.js';
import { InvalidInputError } from '../definitions/errors.js';

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

/**
 * Time travel: the features of the given entities as of the given times, with exactly the
 * point-in-time semantics of training sets (same index, same match; only rows of the requested
 * entities within [min time - ttl, max time] are read from the offline store).
 */
export async function getHistoricalFeatures(
  deps: { db: Db; pool: pg.Pool; resolver: ViewResolver },
  request: HistoricalRequest,
): Promise<HistoricalFeatures> {
  const lengths = new Set(Object.values(request.entities).map((keys) => keys.length));
  if (lengths.size > 1)
    throw new InvalidInputError('invalid historical lookup: entity key arrays differ in length');
  const rows = [...lengths][0] ?? (Array.isArray(request.asOf) ? request.asOf.length : 0);
  const asOf = request.asOf;
  const ts = Array.isArray(asOf)
    ? Float64Array.from(asOf as ReadonlyArray<number | Date>, toMs)
    : new Float64Array(rows).fill(toMs(asOf as number | Date));
  if (ts.length !== rows)
    throw new InvalidInputError(`invalid historical lookup: ${ts.length} times for ${rows} rows`);
  const bad = ts.findIndex((t) => !Number.isFinite(t));
  if (bad >= 0)
    throw new InvalidInputError(`invalid historical lookup: asOf of row ${bad} is not a valid time`);

  const { views: resolved, onDemand } = await resolveFeatureRefs(
    deps,
    request.features,
    (entity) => Object.hasOwn(request.entities, entity),
    (entity) => `pass entities.${entity}`,
  );

  let minTs = Infinity;
  let maxTs = -Infinity;
  for (const t of ts) {
    minTs = Math.min(minTs, t);
    maxTs = Math.max(maxTs, t);
  }

  const columns: Record<string, Column> = {};
  for (const { view, features, ttlMs } of resolved) {
    const keys = requestKeys(view, rows, (entity, i) => request.entities[entity.name][i]);
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
