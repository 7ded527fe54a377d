/**
 * Ingesting a label source into `kaizen.labels`, exactly once per chunk as materialization does for
 * views: the event-time range is cut on the fixed chunk grid; each chunk reads its source rows,
 * fingerprints them, validates and keys them with the feature store's row preparation, and then —
 * in one transaction, under a per-chunk lock — replaces the chunk's labels and quarantine entries and
 * records the fingerprint in the ledger. An unchanged chunk writes nothing; a changed one (late or
 * corrected labels) is written again whole; a failed attempt leaves nothing behind.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { and, eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { inClientTransaction, type Db } from '../../db/client.js';
import { COPY_BATCH_ROWS, copyValue } from '../../db/copy-text.js';
import * as schema from '../../db/schema.js';
import { labelChunks, labels, quarantine } from '../../db/schema.js';
import {
  CURRENT_KEY_ENCODING,
  erasedKeyHashes,
  eventTimesFromColumn,
  fingerprintRows,
  InvalidInputError,
  isUsableTime,
  openSource,
  prepareRows,
  QUARANTINE_REASON,
  type QuarantinedRow,
  type RawColumn,
  type SourceData,
  type TimeRange,
} from '../../feature-store/index.js';
import type { StoredDefinition } from '../../models/definitions.js';
import { erasedLabelMatchers } from './erased.js';
import { knownAtMs, labelRowsView, labelValue, type LabelSourceDefinition } from './label-source.js';

export type StoredLabelSource = StoredDefinition<LabelSourceDefinition>;

export interface LabelChunkResult {
  chunkId: string;
  /** Committed before from the same source rows: nothing written. */
  skipped: boolean;
  rows: number;
  quarantined: number;
}

/**
 * Ingestion holds a source's lock shared and stamps rows (created_at) once it holds it; joining labels
 * to predictions holds it exclusively (resolve.ts). So a join sees every ingested label stamped before
 * it began, and a label stamped after it began is newer than what the join recorded: the next join
 * can skip exactly the predictions labelled since the source last changed. (Labels fed back through
 * the API take no lock, so that serving never waits on a join: resolve.ts allows them a margin.)
 */
export async function lockLabelSource(db: Db, source: string): Promise<void> {
  await db.execute(sql`SELECT pg_advisory_xact_lock_shared(hashtext(${labelSourceLockKey(source)}))`);
}

export const labelSourceLockKey = (source: string) => `kaizen.labels:${source}`;

/** Quarantine entries of label sources are filed under `labels:<source>` (feature views use their name). */
export const labelQuarantineName = (source: string) => `labels:${source}`;

export const labelChunkId = (source: StoredLabelSource, range: TimeRange) =>
  `labels:${source.name}@v${source.version}:${new Date(range.startMs).toISOString()}:${new Date(range.endMs).toISOString()}`;

/** Source columns the labels are built from, sorted (their fingerprint covers exactly these). */
function columnsRead(def: LabelSourceDefinition): string[] {
  const names = new Set<string>([def.label.column]);
  for (const e of def.entities) {
    const spec = def.entityColumns?.[e.name] ?? e.joinKey;
    for (const column of typeof spec === 'string' ? [spec] : spec) names.add(column);
  }
  for (const field of Object.values(def.request ?? {})) names.add(field.column);
  if (def.known?.plusMinutesFrom) names.add(def.known.plusMinutesFrom);
  return [...names].sort();
}

interface LabelRows {
  keys: string[];
  eventTs: Float64Array;
  knownAt: Float64Array;
  label: Uint8Array;
  positions: Uint32Array;
  quarantined: QuarantinedRow[];
}

/**
 * The source with its request-field columns read as their declared types (a CSV's text times as
 * times, text numbers as numbers), so that keys are spelled from values, as predictions' are: an
 * unparseable value becomes null, a missing key.
 */
function typedRequestFields(def: LabelSourceDefinition, data: SourceData): SourceData {
  const typed = new Map<string, RawColumn>();
  for (const { column, type } of Object.values(def.request ?? {})) {
    const raw = data.column(column);
    if (raw.kind !== 'string' || type === 'string') continue;
    const values =
      type === 'timestamp'
        ? eventTimesFromColumn(raw, column, data.label)
        : Float64Array.from(raw.codes, (c) =>
            c < 0 || raw.dictionary[c].trim() === '' ? NaN : Number(raw.dictionary[c]),
          );
    const valid = Uint8Array.from(values, (v) => (Number.isFinite(v) ? 1 : 0));
    typed.set(
      column,
      type === 'timestamp' ? { kind: 'timestamp', values, valid } : { kind: 'number', values, valid },
    );
  }
  if (typed.size === 0) return data;
  const column = (name: string) => typed.get(name) ?? data.column(name);
  return Object.assign(Object.create(data) as SourceData, { column });
}

/** Validated, keyed labels of the selected source rows; every other row quarantined with its reason. */
export function labelRows(def: LabelSourceDefinition, data: SourceData, rows: Uint32Array): LabelRows {
  const { input, quarantined } = prepareRows(
    labelRowsView(def),
    typedRequestFields(def, data),
    rows,
    CURRENT_KEY_ENCODING,
  );
  const raw = input.columns.label;
  const minutes = input.columns.known_minutes;
  const keep: number[] = [];
  const label = new Uint8Array(input.length);
  for (let i = 0; i < input.length; i++) {
    const value = raw.values[i] as number;
    const position = input.positions[i];
    const reject = (reason: string) =>
      quarantined.push({ position, reason, row: { [def.label.column]: raw.valid[i] ? value : null } });
    if (!raw.valid[i]) reject(`missing label: column ${JSON.stringify(def.label.column)} is null`);
    else if (Number.isNaN(value))
      reject(`${QUARANTINE_REASON.nonFinite}: label column ${JSON.stringify(def.label.column)} is NaN`);
    else {
      const y = labelValue(def, value);
      if (y === null)
        reject(
          `${QUARANTINE_REASON.wrongType}: label column ${JSON.stringify(def.label.column)} value ${value} is not 0 or 1`,
        );
      else {
        label[i] = y;
        keep.push(i);
      }
    }
  }
  const knownAt = new Float64Array(keep.length);
  const eventTs = new Float64Array(keep.length);
  const positions = new Uint32Array(keep.length);
  const keys = new Array<string>(keep.length);
  const kept = new Uint8Array(keep.length);
  keep.forEach((i, k) => {
    eventTs[k] = input.eventTs[i];
    knownAt[k] = knownAtMs(def, input.eventTs[i], minutes?.valid[i] ? (minutes.values[i] as number) : 0);
    positions[k] = input.positions[i];
    keys[k] = input.keys[input.keyCodes[i]];
    kept[k] = label[i];
  });
  quarantined.sort((a, b) => a.position - b.position);
  return { keys, eventTs, knownAt, label: kept, positions, quarantined };
}

/** `rows` without those of erased keys (kept rows by key, quarantined ones by their raw key columns). */
function withoutErasedLabels(
  def: LabelSourceDefinition,
  hashes: ReadonlySet<string>,
  rows: LabelRows,
): LabelRows {
  if (hashes.size === 0) return rows;
  const erased = erasedLabelMatchers(def, hashes);
  const keep: number[] = [];
  for (let i = 0; i < rows.keys.length; i++) if (!erased.key(rows.keys[i])) keep.push(i);
  return {
    keys: keep.map((i) => rows.keys[i]),
    eventTs: Float64Array.from(keep, (i) => rows.eventTs[i]),
    knownAt: Float64Array.from(keep, (i) => rows.knownAt[i]),
    label: Uint8Array.from(keep, (i) => rows.label[i]),
    positions: Uint32Array.from(keep, (i) => rows.positions[i]),
    quarantined: rows.quarantined.filter((q) => !erased.row(q.row)),
  };
}

async function openLabelSource(def: LabelSourceDefinition, deps: { dataRoot: string; pool: pg.Pool }) {
  if (!def.source)
    throw new InvalidInputError(`label source "${def.name}" has no source: its labels come through feedback`);
  return openSource(def.source, { dataRoot: deps.dataRoot, pool: deps.pool });
}

/** Ingests one grid chunk of a label source (see the module comment). */
export async function ingestLabelChunk(
  deps: { db: Db; pool: pg.Pool; dataRoot: string },
  source: StoredLabelSource,
  range: TimeRange,
): Promise<LabelChunkResult> {
  const def = source.definition;
  const data = await openLabelSource(def, deps);
  const selected = data.select(range);
  const fingerprint = fingerprintRows(data, selected, columnsRead(def));
  const chunkId = labelChunkId(source, range);
  const ledger = () => deps.db.select().from(labelChunks).where(eq(labelChunks.chunkId, chunkId));
  const [previous] = await ledger();
  const unchanged = (row: typeof previous | undefined): LabelChunkResult | undefined =>
    row?.sourceFingerprint === fingerprint
      ? { chunkId, skipped: true, rows: row.rows, quarantined: row.rowsQuarantined }
      : undefined;
  const done = unchanged(previous);
  if (done) return done;
  const rows = labelRows(def, data, selected);
  return inClientTransaction(deps.pool, async (client) => {
    const tx = drizzle(client, { schema });
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${chunkId}))`);
    await lockLabelSource(tx as unknown as Db, source.name);
    // A concurrent attempt from the same rows may have committed while this one read the source.
    const [current] = await tx.select().from(labelChunks).where(eq(labelChunks.chunkId, chunkId));
    const committed = unchanged(current);
    if (committed) return committed;
    // Under the source's lock, which an erasure holds alone while it deletes: erased keys stay out.
    const prepared = withoutErasedLabels(
      def,
      await erasedKeyHashes(
        tx,
        def.entities.map((e) => e.name),
      ),
      rows,
    );
    await tx
      .delete(labels)
      .where(
        and(
          eq(labels.sourceName, source.name),
          eq(labels.sourceVersion, source.version),
          eq(labels.chunkId, chunkId),
        ),
      );
    await insertLabelRows(client, source, chunkId, prepared);
    await replaceQuarantine(tx as unknown as Db, source, chunkId, data.label, prepared.quarantined);
    const entry = {
      sourceName: source.name,
      sourceVersion: source.version,
      rangeStart: new Date(range.startMs),
      rangeEnd: new Date(range.endMs),
      rows: prepared.keys.length,
      rowsQuarantined: prepared.quarantined.length,
      sourceFingerprint: fingerprint,
      // The database's clock, as created_at: joins compare the two (resolve.ts).
      committedAt: sql`clock_timestamp()`,
    };
    await tx
      .insert(labelChunks)
      .values({ chunkId, ...entry })
      .onConflictDoUpdate({ target: labelChunks.chunkId, set: entry });
    return { chunkId, skipped: false, rows: entry.rows, quarantined: entry.rowsQuarantined };
  });
}

/** Files the source's rows without a usable event time under `<chunk>:untimed`, replacing the last set. */
export async function refileUntimedLabels(
  deps: { db: Db; pool: pg.Pool; dataRoot: string },
  source: StoredLabelSource,
): Promise<number> {
  const data = await openLabelSource(source.definition, deps);
  const positions: number[] = [];
  for (let p = 0; p < data.length; p++) if (!isUsableTime(data.eventTs[p])) positions.push(p);
  const { quarantined } = labelRows(source.definition, data, Uint32Array.from(positions));
  const chunkId = `labels:${source.name}@v${source.version}:untimed`;
  await deps.db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${chunkId}))`);
    // Under the source's lock an erasure holds alone: an erased key's raw rows are not filed again.
    await lockLabelSource(tx as unknown as Db, source.name);
    const hashes = await erasedKeyHashes(
      tx,
      source.definition.entities.map((e) => e.name),
    );
    const erased = erasedLabelMatchers(source.definition, hashes);
    const kept = hashes.size ? quarantined.filter((q) => !erased.row(q.row)) : quarantined;
    await replaceQuarantine(tx as unknown as Db, source, chunkId, data.label, kept);
  });
  return quarantined.length;
}

/** COPY text rows (position, key, event time, known time, label). */
function* labelCopyRows(rows: LabelRows): Generator<Buffer> {
  for (let from = 0; from < rows.keys.length; from += COPY_BATCH_ROWS) {
    let chunk = '';
    for (let i = from; i < Math.min(rows.keys.length, from + COPY_BATCH_ROWS); i++)
      chunk +=
        `${rows.positions[i]}\t${copyValue(rows.keys[i])}\t${new Date(rows.eventTs[i]).toISOString()}\t` +
        `${new Date(rows.knownAt[i]).toISOString()}\t${rows.label[i]}\n`;
    yield Buffer.from(chunk, 'utf8');
  }
}

/** A chunk's labels, through a COPY (a week of flights is 115k rows); each stamped by the database's clock. */
async function insertLabelRows(
  client: pg.PoolClient,
  source: StoredLabelSource,
  chunkId: string,
  rows: LabelRows,
): Promise<void> {
  await client.query(
    'CREATE TEMP TABLE label_rows (position int8, key text, event_ts timestamptz, known_at timestamptz, label float8) ON COMMIT DROP',
  );
  await pipeline(Readable.from(labelCopyRows(rows)), client.query(copyFrom('COPY label_rows FROM STDIN')));
  await client.query(
    `INSERT INTO kaizen.labels (source_name, source_version, origin, chunk_id, position, key, event_ts, known_at, label, created_at)
     SELECT $1, $2, 'source', $3, position, key, event_ts, known_at, label, clock_timestamp() FROM label_rows`,
    [source.name, source.version, chunkId],
  );
}

async function replaceQuarantine(
  db: Db,
  source: StoredLabelSource,
  chunkId: string,
  origin: string,
  rows: QuarantinedRow[],
): Promise<void> {
  const name = labelQuarantineName(source.name);
  await db
    .delete(quarantine)
    .where(
      and(
        eq(quarantine.viewName, name),
        eq(quarantine.version, source.version),
        eq(quarantine.chunkId, chunkId),
      ),
    );
  for (let i = 0; i < rows.length; i += 5_000)
    await db.insert(quarantine).values(
      rows.slice(i, i + 5_000).map((q) => ({
        viewName: name,
        version: source.version,
        chunkId,
        source: origin,
        position: q.position,
        reason: q.reason,
        row: q.row,
      })),
    );
}
