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
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { inClientTransaction } from '../db/client.js';
import { COPY_BATCH_ROWS, copyValue } from '../db/copy-text.js';
import { predictions } from '../db/schema.js';
import {
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

/**
 * COPY text rows (id, entities, event_ts, score, decision, features, inputs): numeric inputs go to
 * `inputs` in input order (NULL where missing, text inputs included), text inputs to `features` by
 * column (NULL when the model has none), exactly as `predict` logs them.
 */
function* copyRows(batch: BatchPredictions, signal?: AbortSignal): Generator<Buffer> {
  const numeric = batch.inputs.map(({ column }) => (column.type === 'string' ? null : column));
  const text = batch.inputs
    .filter(({ column }) => column.type === 'string')
    .map(({ name, column }) => ({ key: JSON.stringify(name), column }));
  const inputCell = (column: Column | null, i: number) =>
    column && column.valid[i] ? String(column.values[i]) : 'NULL';
  const textCell = (column: Column, i: number) => {
    const value = column.values[i];
    return column.valid[i] && value !== null ? JSON.stringify(value) : 'null';
  };
  const rows = batch.ids.length;
  for (let from = 0; from < rows; from += COPY_BATCH_ROWS) {
    signal?.throwIfAborted();
    let chunk = '';
    for (let i = from; i < Math.min(rows, from + COPY_BATCH_ROWS); i++) {
      const score = batch.scores[i];
      const features =
        text.length === 0
          ? '\\N'
          : copyValue(`{${text.map(({ key, column }) => `${key}:${textCell(column, i)}`).join(',')}}`);
      chunk +=
        `${batch.ids[i]}\t${copyValue(batch.entities(i))}\t${new Date(batch.eventTs[i]).toISOString()}\t` +
        `${score}\t${score >= DECISION_THRESHOLD ? 't' : 'f'}\t${features}\t` +
        `{${numeric.map((column) => inputCell(column, i)).join(',')}}\n`;
    }
    yield Buffer.from(chunk, 'utf8');
  }
}

/**
 * Writes a part's predictions in one transaction; returns how many were new (0 when a previous
 * attempt or run already wrote them).
 */
export async function writeBatchPredictions(
  pool: pg.Pool,
  batch: BatchPredictions,
  signal?: AbortSignal,
): Promise<number> {
  return inClientTransaction(pool, async (client) => {
    await client.query(`CREATE TEMP TABLE batch_predictions (
      id text, entities jsonb, event_ts timestamptz, score float8, decision bool, features jsonb, inputs float8[]
    ) ON COMMIT DROP`);
    await pipeline(
      Readable.from(copyRows(batch, signal), { objectMode: false }),
      client.query(copyFrom('COPY batch_predictions FROM STDIN')),
    );
    const inserted = await drizzle(client).execute(sql`
      INSERT INTO ${predictions} (id, model_name, version, source, entities, event_ts, score, decision,
        features, inputs, predicted_at)
      SELECT id, ${batch.model}::text, ${batch.version}::int4, 'batch', entities, event_ts, score, decision, features,
        inputs, now()
      FROM batch_predictions
      ON CONFLICT (id) DO NOTHING`);
    return inserted.rowCount ?? 0;
  });
}
