import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { COPY_HEADER, COPY_TRAILER, encodeFrame, type ConstantColumns } from './copy-binary.js';
import { quoteIdent } from '../definitions/identifiers.js';
import { offlineTable, storeColumns } from '../registry/store-tables.js';
import type { FeatureField, FeatureFrame } from '../definitions/types.js';

/**
 * Appends a frame to a version's offline table with one binary COPY. Runs on the caller's client so
 * it joins the chunk's transaction: rows become visible only with the chunk's ledger entry.
 */
export async function appendOffline(
  client: pg.PoolClient,
  table: string,
  fields: FeatureField[],
  frame: FeatureFrame,
  constants: ConstantColumns,
  signal?: AbortSignal,
): Promise<number> {
  if (frame.length === 0) return 0;
  const columns = storeColumns(fields).map(quoteIdent).join(', ');
  const sink = client.query(copyFrom(`COPY ${offlineTable(table)} (${columns}) FROM STDIN (FORMAT binary)`));
  function* body() {
    yield COPY_HEADER;
    for (const batch of encodeFrame(frame, fields, constants)) {
      signal?.throwIfAborted();
      yield batch;
    }
    yield COPY_TRAILER;
  }
  await pipeline(Readable.from(body(), { objectMode: false }), sink);
  return frame.length;
}

/**
 * Deletes the rows one materialization wrote (a revised chunk replaces them) in the caller's
 * transaction, and returns the distinct entity keys they had, whose online rows must be rebuilt.
 */
export async function deleteMaterializedRows(
  client: pg.PoolClient,
  table: string,
  materializationId: string,
): Promise<string[]> {
  const { rows } = await client.query<{ entity_key: string }>(
    `WITH gone AS (DELETE FROM ${offlineTable(table)} WHERE materialization_id = $1 RETURNING entity_key)
     SELECT DISTINCT entity_key FROM gone`,
    [materializationId],
  );
  return rows.map((r) => r.entity_key);
}
