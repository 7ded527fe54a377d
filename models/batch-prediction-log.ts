/**
 * Batch predictions in the prediction log (`kaizen score --log`, and monitoring's replays): rows
 * shaped as `predict` logs them (serving/routers/predict.ts) with source `batch`. A part is written
 * with one COPY into a temp table and moved into kaizen.predictions by one INSERT … ON CONFLICT (id)
 * DO NOTHING in the same transaction: ids are derived from the row, so a retried or replayed part
 * adds nothing twice, and readers see a part whole or not at all.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { inClientTransaction } from '../db/client.js';
import { COPY_BATCH_ROWS } from '../db/copy-text.js';
import { predictions } from '../db/schema.js';
import {
  COPY_HEADER,
  COPY_TRAILER,
  CopyBinaryWriter,
  eventTimesFromColumn,
  type Column,
  type FeatureType,
  type RawColumn,
  type SpineSpec,
} from '../feature-store/index.js';
import { DECISION_THRESHOLD } from '../monitoring/profile.js';

/**
 * The prediction id of a spine row of a scoring run: sha256 of the model version, the spine (its
 * sha256: not the features' training set, whose id changes with every materialization, so that
 * scoring the same spine again logs nothing twice) and the row, formatted as an RFC 9562 version-8
 * ("custom") UUID, which `feedback` accepts like the random ones `predict` hands out.
 */
export function predictionId(model: string, version: number, spineSha256: string, row: number): string {
  const h = createHash('sha256').update(`${model}\0${version}\0${spineSha256}\0${row}`).digest();
  h[6] = (h[6] & 0x0f) | 0x80;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A request field of the model's rows (on-demand views' fields, or inputs read as named) and its spine column. */
export interface RequestField {
  field: string;
  column: string;
  /** The type an on-demand view declares for it: timestamps are logged as ISO text whatever the spine holds. */
  type?: FeatureType;
}

/** One JSON text per row. */
type JsonCells = (row: number) => string;

const iso = (ms: number) => `"${new Date(ms).toISOString()}"`;

/** A spine column's values as JSON; `asText` spells every value as a string (entity key parts). */
function jsonCells(raw: RawColumn, asText: boolean): JsonCells {
  if (raw.kind === 'string') {
    const texts = raw.dictionary.map((s) => JSON.stringify(s));
    return (i) => (raw.codes[i] < 0 ? 'null' : texts[raw.codes[i]]);
  }
  const { values, valid } = raw;
  const quote = asText ? (s: string) => `"${s}"` : (s: string) => s;
  if (raw.kind === 'timestamp') return (i) => (valid[i] ? iso(values[i]) : 'null');
  if (raw.kind === 'bool') return (i) => (valid[i] ? quote(String(values[i] === 1)) : 'null');
  return (i) => (valid[i] && Number.isFinite(values[i]) ? quote(String(values[i])) : 'null');
}

/**
 * Each row's entity keys by entity name (a key of several columns as the array of its parts, as
 * `predict` takes it) and its request fields by field name, as the JSON text `predict` logs.
 */
export function entitiesJson(
  entities: SpineSpec['entities'],
  requestFields: readonly RequestField[],
  column: (name: string) => RawColumn,
): JsonCells {
  const members: Array<[string, JsonCells]> = entities.map(({ entity, columns }) => {
    const parts = columns.map((name) => jsonCells(column(name), true));
    const cells: JsonCells =
      parts.length === 1 ? parts[0] : (i) => `[${parts.map((part) => part(i)).join(',')}]`;
    return [JSON.stringify(entity), cells];
  });
  for (const { field, column: name, type } of requestFields) {
    const raw = column(name);
    let cells: JsonCells;
    if (type === 'timestamp') {
      const ms = eventTimesFromColumn(raw, name, 'the spine');
      cells = (i) => (Number.isNaN(ms[i]) ? 'null' : iso(ms[i]));
    } else cells = jsonCells(raw, false);
    members.push([JSON.stringify(field), cells]);
  }
  return (i) => `{${members.map(([key, cells]) => `${key}:${cells(i)}`).join(',')}}`;
}

export interface BatchPredictions {
  model: string;
  version: number;
  ids: readonly string[];
  /** Entity keys and request fields of each row (entitiesJson). */
  entities: JsonCells;
  /** The spine time of each row (ms): when its features were looked up. */
  eventTs: Float64Array;
  scores: Float64Array;
  /** The model's input columns, in its input order. */
  inputs: ReadonlyArray<{ name: string; column: Column }>;
}

/** The columns of a part's rows, in COPY tuple order; the log's own row adds the last four. */
const PART_COLUMNS = ['id', 'entities', 'event_ts', 'score', 'decision', 'features', 'inputs'];
const LOG_COLUMNS = [...PART_COLUMNS, 'model_name', 'version', 'source', 'predicted_at'];

/**
 * Binary COPY tuples (PART_COLUMNS; LOG_COLUMNS with `logged`): numeric inputs go to `inputs` in
 * input order (NULL where missing, text inputs included), text inputs to `features` by column (NULL
 * when the model has none), exactly as `predict` logs them. Binary: no number is formatted here or
 * parsed by the server (the text format cost more than the INSERT it fed).
 */
function* copyRows(
  batch: BatchPredictions,
  logged: { predictedAtMs: number } | null,
  signal?: AbortSignal,
): Generator<Buffer> {
  const numeric = batch.inputs.map(({ column }) => (column.type === 'string' ? null : column));
  const text = batch.inputs
    .filter(({ column }) => column.type === 'string')
    .map(({ name, column }) => ({ key: JSON.stringify(name), column }));
  const textCell = (column: Column, i: number) => {
    const value = column.values[i];
    return column.valid[i] && value !== null ? JSON.stringify(value) : 'null';
  };
  const rows = batch.ids.length;
  yield COPY_HEADER;
  for (let from = 0; from < rows; from += COPY_BATCH_ROWS) {
    signal?.throwIfAborted();
    const to = Math.min(rows, from + COPY_BATCH_ROWS);
    const w = new CopyBinaryWriter((to - from) * (256 + numeric.length * 12));
    for (let i = from; i < to; i++) {
      const score = batch.scores[i];
      w.fields(logged ? LOG_COLUMNS.length : PART_COLUMNS.length);
      w.uniqueText(batch.ids[i]);
      w.jsonb(batch.entities(i));
      w.timestamp(batch.eventTs[i]);
      w.float8(score);
      w.bool(score >= DECISION_THRESHOLD ? 1 : 0);
      if (text.length === 0) w.null();
      else w.jsonb(`{${text.map(({ key, column }) => `${key}:${textCell(column, i)}`).join(',')}}`);
      w.float8Array(numeric.length, (k) => {
        const column = numeric[k];
        return column && column.valid[i] ? (column.values[i] as number) : null;
      });
      if (logged) {
        w.text(batch.model);
        w.int4(batch.version);
        w.text('batch');
        w.timestamp(logged.predictedAtMs);
      }
    }
    yield w.result();
  }
  yield COPY_TRAILER;
}

/** SQLSTATE of a duplicate key. */
const UNIQUE_VIOLATION = '23505';

/**
 * Writes a part's predictions in one transaction; returns how many were new (0 when a previous
 * attempt or run already wrote them). Most parts are new: they are copied straight into the log. A
 * part logged before (a retried attempt, a replay) stops at its first known id; it is then merged
 * through a temp table, its known rows skipped (ON CONFLICT DO NOTHING).
 */
export async function writeBatchPredictions(
  pool: pg.Pool,
  batch: BatchPredictions,
  signal?: AbortSignal,
): Promise<number> {
  const copy = (client: pg.PoolClient, target: string, logged: { predictedAtMs: number } | null) =>
    pipeline(
      Readable.from(copyRows(batch, logged, signal), { objectMode: false }),
      client.query(copyFrom(`COPY ${target} FROM STDIN (FORMAT binary)`)),
    );
  return inClientTransaction(pool, async (client) => {
    // The transaction's now() as the temp table path stamps it, exactly (epoch ms with µs fractions).
    const { rows } = await client.query<{ ms: string }>(
      'SELECT (extract(epoch FROM now()) * 1000)::text AS ms',
    );
    await client.query('SAVEPOINT new_part');
    try {
      await copy(client, `kaizen.predictions (${LOG_COLUMNS.join(', ')})`, {
        predictedAtMs: Number(rows[0].ms),
      });
      return batch.ids.length;
    } catch (error) {
      if (!(error instanceof pg.DatabaseError && error.code === UNIQUE_VIOLATION)) throw error;
      await client.query('ROLLBACK TO SAVEPOINT new_part');
    }
    await client.query(`CREATE TEMP TABLE batch_predictions (
      id text, entities jsonb, event_ts timestamptz, score float8, decision bool, features jsonb, inputs float8[]
    ) ON COMMIT DROP`);
    await copy(client, `batch_predictions (${PART_COLUMNS.join(', ')})`, null);
    const inserted = await drizzle(client).execute(sql`
      INSERT INTO ${predictions} (${sql.raw(LOG_COLUMNS.join(', '))})
      SELECT ${sql.raw(PART_COLUMNS.join(', '))}, ${batch.model}::text, ${batch.version}::int4, 'batch', now()
      FROM batch_predictions
      ON CONFLICT (id) DO NOTHING`);
    return inserted.rowCount ?? 0;
  });
}
