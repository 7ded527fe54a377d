import { qualified, quoteIdent } from '../definitions/identifiers.js';
import type { FeatureField } from '../definitions/types.js';
import { FEATURE_CODECS } from '../columns/codecs.js';

export const OFFLINE_SCHEMA = 'kaizen_offline';
export const ONLINE_SCHEMA = 'kaizen_online';

/** Location of one feature-view version's store tables (names come from validated identifiers). */
export interface StoreTables {
  offline: string;
  online: string;
}

export function storeTableNames(view: string, version: number): StoreTables {
  return { offline: `${view}__v${version}`, online: `${view}__v${version}` };
}

/**
 * The advisory lock of a version's online rows: chunk commits share it (a revision holds it alone),
 * erasures and retention purges hold it alone, quarantine refiles share it.
 */
export const onlineLockKey = (view: { name: string; version: number }) =>
  `${view.name}@v${view.version}:online`;

export const offlineTable = (name: string) => qualified(OFFLINE_SCHEMA, name);
export const onlineTable = (name: string) => qualified(ONLINE_SCHEMA, name);

/** Column list shared by both stores, in COPY order. */
export function storeColumns(fields: FeatureField[]): string[] {
  return ['entity_key', 'event_ts', ...fields.map((f) => f.name), 'created_ts', 'materialization_id'];
}

function columnDefinitions(fields: FeatureField[]): string {
  return [
    'entity_key text NOT NULL',
    'event_ts timestamptz NOT NULL',
    ...fields.map((f) => `${quoteIdent(f.name)} ${FEATURE_CODECS[f.type].sql}`),
    'created_ts timestamptz NOT NULL',
    'materialization_id text NOT NULL',
  ].join(', ');
}

/**
 * DDL for a new version. The offline table is append-only and unindexed (bulk COPY speed; it is read
 * by full exports); the online table holds the latest row per entity.
 */
export function createStoreTablesSql(tables: StoreTables, fields: FeatureField[]): string[] {
  return [
    // ingest_seq numbers rows in the order COPY appended them (COPY omits it, so each row takes the
    // next value): "ingested last" breaks full ties whatever the physical order after VACUUM.
    `CREATE TABLE IF NOT EXISTS ${offlineTable(tables.offline)} (${columnDefinitions(fields)}, ingest_seq bigint GENERATED ALWAYS AS IDENTITY)`,
    `CREATE TABLE IF NOT EXISTS ${onlineTable(tables.online)} (${columnDefinitions(fields)}, PRIMARY KEY (entity_key))`,
  ];
}
