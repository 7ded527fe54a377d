/**
 * Retention of a view's history: rows whose event time is before a cutoff are purged from every
 * version's offline and online stores (an entity whose latest row is that old is no longer served),
 * in one transaction per version under its online lock; the purge is recorded (its target's data
 * fingerprint changes: exports and indexes are made anew) and servers drop their cached rows.
 */
import type pg from 'pg';
import { inClientTransaction } from '../../db/client.js';
import { MATERIALIZATION_CHANNEL } from '../materialization/chunk.js';
import { purgeTarget } from '../materialization/ledger.js';
import { offlineTable, onlineLockKey, onlineTable } from '../registry/store-tables.js';
import type { ViewVersion } from '../registry/types.js';
import { removeExports } from './erase-views.js';

export interface ViewPurge {
  view: string;
  version: number;
  cutoff: string;
  offlineRows: number;
  onlineRows: number;
}

export async function purgeView(
  deps: { pool: pg.Pool; artifactsDir: string },
  view: ViewVersion,
  cutoffMs: number,
  purgedBy: string,
): Promise<ViewPurge> {
  const cutoff = new Date(cutoffMs);
  const counts = await inClientTransaction(deps.pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [onlineLockKey(view)]);
    const offline = await client.query(
      `DELETE FROM ${offlineTable(view.tables.offline)} WHERE event_ts < $1`,
      [cutoff],
    );
    const online = await client.query(`DELETE FROM ${onlineTable(view.tables.online)} WHERE event_ts < $1`, [
      cutoff,
    ]);
    const offlineRows = offline.rowCount ?? 0;
    if (offlineRows + (online.rowCount ?? 0) > 0) {
      await client.query(
        'INSERT INTO kaizen.retention_purges (target, cutoff, rows, purged_by) VALUES ($1, $2, $3, $4)',
        [purgeTarget(view), cutoff, offlineRows, purgedBy],
      );
      await client.query('SELECT pg_notify($1, $2)', [
        MATERIALIZATION_CHANNEL,
        JSON.stringify({ view: view.name, version: view.version, chunkId: `purge:${cutoff.toISOString()}` }),
      ]);
    }
    return { offlineRows, onlineRows: online.rowCount ?? 0 };
  });
  if (counts.offlineRows + counts.onlineRows > 0) removeExports(deps.artifactsDir, view);
  return { view: view.name, version: view.version, cutoff: cutoff.toISOString(), ...counts };
}
