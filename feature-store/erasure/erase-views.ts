/**
 * Erasing an entity key from every version of every view keyed by its entity: offline and online
 * rows, quarantine entries and cached offline exports. One transaction per version, holding the
 * version's online lock alone (materialization commits wait, then leave the key out: erased-keys.ts);
 * servers drop their cached rows of the version on the notification it sends.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { and, eq, inArray } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import { inClientTransaction, type Db } from '../../db/client.js';
import * as schema from '../../db/schema.js';
import { featureViewVersions, quarantine } from '../../db/schema.js';
import { MATERIALIZATION_CHANNEL } from '../materialization/chunk.js';
import { findViewVersion } from '../registry/views.js';
import { offlineTable, onlineLockKey, onlineTable } from '../registry/store-tables.js';
import type { ViewVersion } from '../registry/types.js';
import { erasedKeyMatcher, erasedRowMatcher } from './erased-keys.js';

export interface ViewErasure {
  view: string;
  version: number;
  offlineRows: number;
  onlineRows: number;
  quarantineEntries: number;
  exportsRemoved: number;
}

/** Every registered version of a view keyed by `entity`. */
export async function versionsKeyedBy(db: Db, entity: string): Promise<ViewVersion[]> {
  const rows = await db
    .select({ name: featureViewVersions.viewName, version: featureViewVersions.version })
    .from(featureViewVersions)
    .orderBy(featureViewVersions.viewName, featureViewVersions.version);
  const versions: ViewVersion[] = [];
  for (const { name, version } of rows) {
    const view = await findViewVersion(db, name, version);
    if (view?.definition.entities.some((e) => e.name === entity)) versions.push(view);
  }
  return versions;
}

/** Deletes the rows of `table` whose key `erased` matches; returns how many. */
async function deleteErasedKeys(
  client: pg.PoolClient,
  table: string,
  erased: (key: string) => boolean,
): Promise<number> {
  const { rows } = await client.query<{ entity_key: string }>(`SELECT DISTINCT entity_key FROM ${table}`);
  const keys = rows.map((r) => r.entity_key).filter(erased);
  if (keys.length === 0) return 0;
  const deleted = await client.query(`DELETE FROM ${table} WHERE entity_key = ANY($1)`, [keys]);
  return deleted.rowCount ?? 0;
}

/** Removes cached exports of a version (named `<view>@v<version>-<data hash>.arrow`). */
export function removeExports(artifactsDir: string, view: ViewVersion): number {
  const dir = path.join(artifactsDir, 'exports');
  if (!existsSync(dir)) return 0;
  const prefix = `${view.name}@v${view.version}-`;
  const files = readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.arrow'));
  for (const file of files) rmSync(path.join(dir, file), { force: true });
  return files.length;
}

export async function eraseFromView(
  deps: { pool: pg.Pool; artifactsDir: string },
  view: ViewVersion,
  erasure: { id: string; hashes: ReadonlySet<string> },
): Promise<ViewErasure> {
  const erasedKey = erasedKeyMatcher(
    view.definition.entities.map((e) => e.name),
    view.keyEncoding,
    erasure.hashes,
  );
  const counts = await inClientTransaction(deps.pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [onlineLockKey(view)]);
    const offlineRows = await deleteErasedKeys(client, offlineTable(view.tables.offline), erasedKey);
    const onlineRows = await deleteErasedKeys(client, onlineTable(view.tables.online), erasedKey);
    const tx = drizzle(client, { schema });
    const ofView = and(eq(quarantine.viewName, view.name), eq(quarantine.version, view.version));
    const entries = await tx
      .select({ id: quarantine.id, row: quarantine.row })
      .from(quarantine)
      .where(ofView);
    const erasedRow = erasedRowMatcher(view, erasure.hashes);
    const ids = entries.filter((e) => erasedRow(e.row as Record<string, unknown>)).map((e) => e.id);
    if (ids.length > 0) await tx.delete(quarantine).where(inArray(quarantine.id, ids));
    await client.query('SELECT pg_notify($1, $2)', [
      MATERIALIZATION_CHANNEL,
      JSON.stringify({ view: view.name, version: view.version, chunkId: `erasure:${erasure.id}` }),
    ]);
    return { offlineRows, onlineRows, quarantineEntries: ids.length };
  });
  return {
    view: view.name,
    version: view.version,
    ...counts,
    exportsRemoved: removeExports(deps.artifactsDir, view),
  };
}
