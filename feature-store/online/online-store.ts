import type pg from 'pg';
import { quoteIdent } from '../definitions/identifiers.js';
import { FEATURE_CODECS } from '../columns/codecs.js';
import { offlineTable, onlineTable, storeColumns } from '../registry/store-tables.js';
import type { Column, FeatureField, FeatureFrame } from '../definitions/types.js';

/**
 * Index of the newest row per entity in a frame: greatest event time, then greatest created time
 * (when the frame has them), ties to the later row (frames keep source order among equal times, so
 * the row ingested last wins, as in the point-in-time join). Ordered by entity key: concurrent chunks
 * then lock online rows in the same order and cannot deadlock.
 */
export function latestRowPerEntity(frame: FeatureFrame): Uint32Array {
  const latest = new Map<string, number>();
  const { eventTs, createdTs } = frame;
  for (let i = 0; i < frame.length; i++) {
    const key = frame.entityKey[i];
    const current = latest.get(key);
    if (
      current === undefined ||
      eventTs[i] > eventTs[current] ||
      (eventTs[i] === eventTs[current] && (!createdTs || createdTs[i] >= createdTs[current]))
    )
      latest.set(key, i);
  }
  const keys = [...latest.keys()].sort();
  return Uint32Array.from(keys, (key) => latest.get(key)!);
}

/** The rows' values of a column as one array-typed query parameter. */
function columnArray(column: Column, rows: Uint32Array): unknown[] {
  const { toParam } = FEATURE_CODECS[column.type];
  const out = new Array(rows.length);
  for (let j = 0; j < rows.length; j++) {
    const i = rows[j];
    out[j] = column.valid[i] ? toParam(column.values[i]!) : null;
  }
  return out;
}

/**
 * Upserts the newest row per entity of a frame into the online table, replacing a stored row only
 * when the new one is newer by (event_ts, created_ts). Returns the number of rows changed.
 */
export async function upsertOnline(
  client: pg.PoolClient,
  table: string,
  fields: FeatureField[],
  frame: FeatureFrame,
  constants: { createdTsMs: number; materializationId: string },
): Promise<number> {
  if (frame.length === 0) return 0;
  const rows = latestRowPerEntity(frame);
  const iso = (ms: number) => new Date(ms).toISOString();
  const keys = Array.from(rows, (i) => frame.entityKey[i]);
  const times = Array.from(rows, (i) => iso(frame.eventTs[i]));
  const created = Array.from(rows, (i) => iso(frame.createdTs ? frame.createdTs[i] : constants.createdTsMs));
  const featureArrays = fields.map((f) => columnArray(frame.columns[f.name], rows));
  const casts = fields.map((f, k) => `$${k + 3}::${FEATURE_CODECS[f.type].sql}[]`);
  const n = fields.length;
  const names = storeColumns(fields).map(quoteIdent);
  const updates = names.slice(1).map((c) => `${c} = EXCLUDED.${c}`);
  const sql = `INSERT INTO ${onlineTable(table)} AS cur (${names.join(', ')})
    SELECT u.*, $${n + 4}::text FROM unnest($1::text[], $2::timestamptz[]${casts.map((c) => `, ${c}`).join('')}, $${n + 3}::timestamptz[]) AS u
    ON CONFLICT (entity_key) DO UPDATE SET ${updates.join(', ')}
    WHERE (cur.event_ts, cur.created_ts) < (EXCLUDED.event_ts, EXCLUDED.created_ts)`;
  const result = await client.query(sql, [
    keys,
    times,
    ...featureArrays,
    created,
    constants.materializationId,
  ]);
  return result.rowCount ?? 0;
}

/**
 * Recomputes the online rows of `entityKeys` from the offline table: the latest row per entity by
 * (event_ts, created_ts, ingestion order), the point-in-time join's order; entities with no offline
 * row left lose their online row. Used when a chunk is revised, where "upsert if newer" cannot undo
 * rows that are gone or replaced. Returns how many entities it rewrote or removed.
 */
export async function rebuildOnline(
  client: pg.PoolClient,
  tables: { offline: string; online: string },
  fields: FeatureField[],
  entityKeys: string[],
): Promise<number> {
  if (entityKeys.length === 0) return 0;
  const names = storeColumns(fields).map(quoteIdent);
  const updates = names.slice(1).map((c) => `${c} = EXCLUDED.${c}`);
  const { rows } = await client.query<{ entity_key: string }>(
    `INSERT INTO ${onlineTable(tables.online)} (${names.join(', ')})
     SELECT ${names.join(', ')} FROM (
       SELECT DISTINCT ON (entity_key) ${names.join(', ')} FROM ${offlineTable(tables.offline)}
        WHERE entity_key = ANY($1::text[])
        ORDER BY entity_key, event_ts DESC, created_ts DESC, ingest_seq DESC
     ) latest ORDER BY entity_key
     ON CONFLICT (entity_key) DO UPDATE SET ${updates.join(', ')}
     RETURNING entity_key`,
    [entityKeys],
  );
  const kept = rows.map((r) => r.entity_key);
  const removed = await client.query(
    `DELETE FROM ${onlineTable(tables.online)} WHERE entity_key = ANY($1::text[]) AND entity_key <> ALL($2::text[])`,
    [entityKeys, kept],
  );
  return kept.length + (removed.rowCount ?? 0);
}

export type OnlineStatus = 'present' | 'expired' | 'missing';

export interface OnlineRow {
  /** The stored key; null when the request's key was missing (null or blank). */
  entityKey: string | null;
  status: OnlineStatus;
  eventTs: Date | null;
  values: Record<string, unknown>;
}

/** The stored rows (entity_key, event_ts and `fields` by name) of those of `entityKeys` present. */
export async function queryOnlineRows(
  client: pg.Pool | pg.PoolClient,
  table: string,
  fields: FeatureField[],
  entityKeys: string[],
): Promise<Map<string, Record<string, unknown>>> {
  const columns = ['entity_key', 'event_ts', ...fields.map((f) => f.name)].map(quoteIdent).join(', ');
  const { rows } = await client.query(
    `SELECT ${columns} FROM ${onlineTable(table)} WHERE entity_key = ANY($1::text[])`,
    [entityKeys],
  );
  return new Map(rows.map((r) => [r.entity_key as string, r]));
}

/**
 * Reads the latest stored values for stored entity keys (null: a missing key), in the order given.
 * TTL is enforced online as it is offline: a row older than `ttlMs` at `nowMs` comes back with null
 * values and status `expired`.
 */
export async function readOnline(
  client: pg.Pool | pg.PoolClient,
  table: string,
  fields: FeatureField[],
  entityKeys: ReadonlyArray<string | null>,
  opts: { ttlMs?: number; nowMs?: number } = {},
): Promise<OnlineRow[]> {
  const present = entityKeys.filter((key): key is string => key !== null);
  const byKey = await queryOnlineRows(client, table, fields, present);
  const now = opts.nowMs ?? Date.now();
  const nulls = () => Object.fromEntries(fields.map((f) => [f.name, null]));
  return entityKeys.map((entityKey) => {
    const row = entityKey === null ? undefined : byKey.get(entityKey);
    if (!row) return { entityKey, status: 'missing', eventTs: null, values: nulls() };
    const eventTs = row.event_ts as Date;
    const status = onlineStatus(eventTs.getTime(), opts.ttlMs, now);
    if (status === 'expired') return { entityKey, status, eventTs, values: nulls() };
    return {
      entityKey,
      status,
      eventTs,
      values: Object.fromEntries(fields.map((f) => [f.name, row[f.name]])),
    };
  });
}

/**
 * The online TTL rule, shared by every online read: no row is `missing`; a row older than `ttlMs` at
 * `nowMs` is `expired` (its values read as null, as the point-in-time join would give), else `present`.
 */
export function onlineStatus(
  eventTsMs: number | null,
  ttlMs: number | undefined,
  nowMs: number,
): OnlineStatus {
  if (eventTsMs === null) return 'missing';
  return ttlMs !== undefined && eventTsMs < nowMs - ttlMs ? 'expired' : 'present';
}
