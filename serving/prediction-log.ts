/**
 * The prediction log: served predictions are buffered in memory and written off the request path in
 * batches (one multi-row INSERT each). `ON CONFLICT (id) DO NOTHING` makes a retried batch harmless
 * when an earlier attempt did commit. Write failures never reach a prediction: they are retried a
 * bounded number of times, then counted (metrics.predictionLogFailures) and logged.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { predictions } from '../db/schema.js';
import type { ServingMetrics } from './metrics.js';

/** A row of the log; `inputs` may hold nulls (missing or text inputs), which drizzle's type omits. */
export type PredictionLogEntry = Omit<typeof predictions.$inferInsert, 'inputs'> & {
  inputs?: Array<number | null> | null;
};

export interface PredictionLog {
  /** Buffers entries; never blocks and never throws. */
  record(entries: PredictionLogEntry[]): void;
  /** Entries still being computed (shadow scores): buffered once they resolve; flush() waits for them. */
  recordPending(entries: Promise<PredictionLogEntry[]>): void;
  /** Writes everything recorded so far (retrying failures) before resolving. */
  flush(): Promise<void>;
  /** Flushes everything, then stops; later records are counted as failures. */
  close(): Promise<void>;
}

export interface PredictionLogOptions {
  db: Db;
  metrics: ServingMetrics;
  log?: (line: string) => void;
  /** Longest an entry waits before its batch is written. */
  flushIntervalMs?: number;
  /** Rows per INSERT; a full batch is written at once. */
  batchRows?: number;
  /** Buffered entries beyond this are dropped, oldest first (counted as failures). */
  maxBuffered?: number;
  /** Attempts per batch before it is given up. */
  maxAttempts?: number;
  /** First retry delay; doubles per attempt. */
  retryDelayMs?: number;
}

/** Bounds one statement's size (and what a failed attempt puts back). */
const MAX_BATCH_ROWS = 10_000;

export function createPredictionLog(options: PredictionLogOptions): PredictionLog {
  const {
    db,
    metrics,
    log = (line: string) => console.error(line),
    flushIntervalMs = 100,
    batchRows = 1000,
    maxBuffered = 100_000,
    maxAttempts = 5,
    retryDelayMs = 100,
  } = options;
  if (!(batchRows >= 1 && batchRows <= MAX_BATCH_ROWS))
    throw new Error(`batchRows must be between 1 and ${MAX_BATCH_ROWS}`);

  const buffer: PredictionLogEntry[] = [];
  /** A batch that failed and waits for its next attempt; written before anything newer. */
  let retry: { entries: PredictionLogEntry[]; attempts: number } | null = null;
  let writing: Promise<void> | null = null;
  let writingRows = 0;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  const pending = new Set<Promise<unknown>>();
  // flush() waits until every entry recorded before it is settled: written, given up or dropped.
  let recorded = 0;
  let settled = 0;

  const updateBacklog = () =>
    metrics.predictionLogBacklog.set(buffer.length + (retry?.entries.length ?? 0) + writingRows);

  const fail = (count: number, why: string) => {
    metrics.predictionLogFailures.inc(count);
    settled += count;
    log(`prediction log: ${count} prediction(s) not written: ${why}`);
  };

  const retryDelay = (attempts: number) => retryDelayMs * 2 ** (attempts - 1);

  async function writeNextBatch(): Promise<void> {
    const batch = retry ?? { entries: buffer.splice(0, batchRows), attempts: 0 };
    retry = null;
    writingRows = batch.entries.length;
    try {
      if (batch.entries.length > 0) await insertPredictions(db, batch.entries);
      settled += batch.entries.length;
    } catch (error) {
      batch.attempts++;
      // Drizzle's message carries the query's parameters (the whole batch): log the driver's cause.
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      const why = cause instanceof Error ? cause.message : String(cause);
      if (batch.attempts >= maxAttempts)
        fail(batch.entries.length, `${batch.attempts} attempts, last: ${why}`);
      else retry = batch;
    } finally {
      writingRows = 0;
      updateBacklog();
    }
  }

  /** Starts a write unless one is running; resolves when that write is done. */
  function write(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = null;
    writing ??= writeNextBatch().finally(() => {
      writing = null;
      scheduleNext();
    });
    return writing;
  }

  function schedule(delayMs: number) {
    if (timer || writing || closed) return;
    // Unref'd: a pending flush never keeps a process alive; close() writes what is left.
    timer = setTimeout(() => void write(), delayMs).unref();
  }

  function scheduleNext() {
    if (retry) schedule(retryDelay(retry.attempts));
    else if (buffer.length >= batchRows) void write();
    else if (buffer.length > 0) schedule(flushIntervalMs);
  }

  function record(entries: PredictionLogEntry[]) {
    recorded += entries.length;
    if (closed) return fail(entries.length, 'the prediction log is closed');
    buffer.push(...entries);
    // Bounded memory while the database is unreachable: the oldest entries go first, counted.
    const excess = buffer.length + (retry?.entries.length ?? 0) - maxBuffered;
    if (excess > 0) {
      const fromRetry = Math.min(excess, retry?.entries.length ?? 0);
      if (retry && fromRetry > 0) retry.entries.splice(0, fromRetry);
      buffer.splice(0, excess - fromRetry);
      fail(excess, `buffer full (${maxBuffered} entries): oldest dropped`);
    }
    updateBacklog();
    if (buffer.length >= batchRows && !retry && !writing) void write();
    else schedule(flushIntervalMs);
  }

  async function flush() {
    while (pending.size > 0) await Promise.allSettled([...pending]);
    const target = recorded;
    while (settled < target) {
      const waiting = retry;
      if (waiting && !writing)
        await new Promise((resolve) => setTimeout(resolve, retryDelay(waiting.attempts)));
      await write();
    }
  }

  return {
    record,
    recordPending(entries) {
      const tracked = entries.then(record, (error: unknown) =>
        log(`prediction log: entries lost: ${error instanceof Error ? error.message : String(error)}`),
      );
      pending.add(tracked);
      void tracked.finally(() => pending.delete(tracked));
    },
    flush,
    async close() {
      // Shadow entries may still arrive while flushing: repeat until nothing is left.
      do await flush();
      while (pending.size > 0 || settled < recorded);
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}

/** A number as JSON text that Postgres parses back exactly, NaN and ±Infinity included. */
const numberText = (x: number | null | undefined) => (x == null ? null : String(x));

/**
 * One INSERT of a whole batch, sent as one JSON document that Postgres unpacks (jsonb_to_recordset):
 * a single native JSON.stringify on the serving thread, where per-element array parameters cost it
 * milliseconds per batch. Numbers travel as text so that NaN survives.
 */
export async function insertPredictions(db: Db, entries: PredictionLogEntry[]): Promise<void> {
  const rows = JSON.stringify(
    entries.map((e) => ({
      id: e.id,
      model_name: e.modelName,
      version: e.version,
      source: e.source ?? 'online',
      entities: e.entities ?? null,
      event_ts: e.eventTs ?? null,
      score: numberText(e.score),
      decision: e.decision ?? null,
      features: e.features,
      inputs: e.inputs ? e.inputs.map(numberText) : null,
      shadow_version: e.shadowVersion ?? null,
      shadow_score: numberText(e.shadowScore),
      latency_ms: numberText(e.latencyMs),
      api_key_id: e.apiKeyId ?? null,
      predicted_at: e.predictedAt,
    })),
  );
  await db.execute(sql`
    INSERT INTO ${predictions} (id, model_name, version, source, entities, event_ts, score, decision, features,
      inputs, shadow_version, shadow_score, latency_ms, api_key_id, predicted_at)
    SELECT id, model_name, version, source, entities, event_ts, score, decision, features,
      inputs, shadow_version, shadow_score, latency_ms, api_key_id, predicted_at
    FROM jsonb_to_recordset(${rows}::jsonb) AS r(
      id text, model_name text, version int4, source text, entities jsonb, event_ts timestamptz,
      score float8, decision bool, features jsonb, inputs float8[], shadow_version int4,
      shadow_score float8, latency_ms float8, api_key_id text, predicted_at timestamptz
    )
    ON CONFLICT (id) DO NOTHING`);
}
