/**
 * Joining labels to predictions. A prediction of a window gets the label of its key (its entity keys
 * and request fields, as the label source spells them) whose event is the first at or after the
 * prediction's event time and within the source's horizon — what happened next to what it predicted;
 * of several labels for that event, one fed back through the API wins over the source's, then the one
 * stamped last. The match is written to prediction_feedback (source `labels:<name>`) with the time
 * the label became known; labels fed back by prediction id are never replaced, and a match that
 * disappeared (a revised label chunk) is removed.
 *
 * Keys are computed here (memoized per distinct value), in one pass over the window's predictions that
 * a label change could concern: those with no label of this source yet, or one recorded before a chunk
 * over their horizon was committed or a label was fed back by event. The join itself runs in Postgres
 * over a temp table of (prediction, key, event time), in one transaction with the writes: a retry
 * redoes it and changes nothing twice. */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { inClientTransaction, NO_NESTED_LOOPS } from '../../db/client.js';
import { joinEntityKeys, parseDuration } from '../../feature-store/index.js';
import { literalTime, windowFeedbackSql } from '../window-reader.js';
import { copyField, copyRowsOut, copyValue } from '../../db/copy-text.js';
import { labelSourceLockKey, type StoredLabelSource } from './ingest.js';
import { DEFAULT_LABEL_HORIZON, labelKeyParts, type KeyValue } from './label-source.js';

export interface ResolveResult {
  /** Predictions of the window whose label may have changed: not labelled by this source since it last changed. */
  predictions: number;
  /** Those whose key fields make a label key (the others cannot be labelled by this source). */
  keyed: number;
  /** Predictions with a label of this source after the join. */
  matched: number;
  /** Labels written (new, changed, or confirmed as they were). */
  written: number;
  /** Labels of this source removed (their label is gone). */
  removed: number;
}

export const labelFeedbackSource = (source: string) => `labels:${source}`;

/**
 * A label fed back by event is stamped (created_at) just before its single-row insert commits, with
 * no lock: a prediction joined less than this after the last such label is joined again next time.
 */
export const LABEL_CHANGE_MARGIN_MS = 10_000;

/** Joins `source`'s labels to `model`'s predictions with event times in [startMs, endMs). */
export async function resolveLabels(
  pool: pg.Pool,
  source: StoredLabelSource,
  model: string,
  window: { startMs: number; endMs: number },
  opts: { changeMarginMs?: number } = {},
): Promise<ResolveResult> {
  const margin = `${opts.changeMarginMs ?? LABEL_CHANGE_MARGIN_MS} milliseconds`;
  const fields = labelKeyParts(source.definition);
  const feedbackSource = labelFeedbackSource(source.name);
  const horizon = `${parseDuration(source.definition.horizon ?? DEFAULT_LABEL_HORIZON)} milliseconds`;
  const counted = { predictions: 0, keyed: 0 };
  // The key fields as JSON text, memoized: entity keys and request fields repeat across predictions.
  const memo = fields.map(() => new Map<string, string | null>());
  const partOf = (k: number, json: string | null) => {
    if (json === null) return null;
    let part = memo[k].get(json);
    if (part === undefined) memo[k].set(json, (part = fields[k].part(JSON.parse(json) as KeyValue)));
    return part;
  };
  /** COPY text rows (prediction, key, event time) of the predictions whose fields make a key. */
  async function* keyed(rows: AsyncIterable<string[]>): AsyncGenerator<string> {
    const parts = new Array<string>(fields.length);
    let batch = '';
    for await (const row of rows) {
      counted.predictions++;
      let complete = true;
      for (let k = 0; k < fields.length && complete; k++) {
        const part = partOf(k, copyField(row[2 + k]));
        if (part === null) complete = false;
        else parts[k] = part;
      }
      if (!complete) continue;
      counted.keyed++;
      batch += `${row[0]}\t${copyValue(joinEntityKeys(parts))}\t${row[1]}\n`;
      if (batch.length > 1 << 20) {
        yield batch;
        batch = '';
      }
    }
    if (batch) yield batch;
  }
  const name = pg.escapeLiteral(source.name);
  /**
   * Labels fed back by id never change here; nor does this source's label of a prediction recorded
   * after every label that could be it arrived: after every chunk committed over its horizon (a join
   * that began after a chunk's stamp waited for its commit on the lock, ingest.ts lockLabelSource;
   * both times are the database's clock, which is taken not to step back),
   * and well after the last label fed back by event (those take no lock: the margin covers a
   * single-row insert between its stamp and its commit). The window's few chunks are spelled out as
   * event-time ranges (a per-row subquery over the ledger cost more than the rest of the read).
   */
  const pendingSql = (chunks: Array<{ events_from: string; events_to: string; changed_by: string }>) => {
    const changed = chunks.map(
      (c) =>
        `(p.event_ts >= ${pg.escapeLiteral(c.events_from)}::timestamptz AND p.event_ts < ${pg.escapeLiteral(c.events_to)}::timestamptz
          AND f.recorded_at <= ${pg.escapeLiteral(c.changed_by)}::timestamptz)`,
    );
    return `COPY (SELECT p.id, p.event_ts${fields.map((f) => `, p.entities -> ${pg.escapeLiteral(f.name)}`).join('')}
    FROM kaizen.predictions p
    WHERE p.model_name = ${pg.escapeLiteral(model)}
      AND p.event_ts >= ${literalTime(window.startMs)} AND p.event_ts < ${literalTime(window.endMs)}
      AND NOT EXISTS (SELECT 1 FROM ${windowFeedbackSql(model, window)} f WHERE f.prediction_id = p.id
        AND (f.source = 'feedback' OR (f.source = ${pg.escapeLiteral(feedbackSource)}
          AND f.recorded_at > coalesce((SELECT max(created_at) FROM kaizen.labels
            WHERE source_name = ${name} AND origin = 'feedback'), '-infinity') + ${pg.escapeLiteral(margin)}::interval
          AND NOT (${changed.join(' OR ') || 'false'}))))
    ) TO STDOUT`;
  };

  // One connection throughout (two per join could exhaust the pool while joins wait on the lock). The
  // predictions are read before the lock: a label changed meanwhile is newer than what this join
  // records, so the next join takes it up; the join itself, under the lock, sees every label stamped.
  return inClientTransaction(pool, async (client) => {
    // Chunks whose events a window prediction's horizon reaches: its label may have changed when one
    // was committed after it was recorded (times as Postgres spells them: no precision lost).
    const { rows: chunks } = await client.query<{
      events_from: string;
      events_to: string;
      changed_by: string;
    }>(
      `SELECT (range_start - $4::interval)::text AS events_from, range_end::text AS events_to,
         committed_at::text AS changed_by
       FROM kaizen.label_chunks
       WHERE source_name = $1 AND range_start <= $3::timestamptz + $4::interval AND range_end > $2::timestamptz`,
      [source.name, new Date(window.startMs), new Date(window.endMs), horizon],
    );
    const batches: string[] = [];
    await client.query(NO_NESTED_LOOPS);
    for await (const batch of keyed(copyRowsOut(client, pendingSql(chunks)))) batches.push(batch);
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [labelSourceLockKey(source.name)]);
    await client.query(
      'CREATE TEMP TABLE label_pending (id text, key text, event_ts timestamptz) ON COMMIT DROP',
    );
    await pipeline(Readable.from(batches), client.query(copyFrom('COPY label_pending FROM STDIN')));
    await client.query('ANALYZE label_pending');
    await client.query(
      `CREATE TEMP TABLE label_matched ON COMMIT DROP AS
       SELECT DISTINCT ON (t.id) t.id, t.event_ts, l.label, l.known_at
       FROM label_pending t
       JOIN kaizen.labels l ON l.key = t.key AND l.source_name = $1 AND (l.source_version = $2 OR l.origin = 'feedback')
         AND l.event_ts >= t.event_ts AND l.event_ts <= t.event_ts + $3::interval
         -- The labels the window's events can have, as a range: one scan of them beats a lookup per event.
         AND l.event_ts >= $4::timestamptz AND l.event_ts < $5::timestamptz + $3::interval
       -- The event's label fed back through the API over the source's, then the one stamped last.
       ORDER BY t.id, l.event_ts, (l.origin = 'feedback') DESC, l.created_at DESC, l.id DESC`,
      [source.name, source.version, horizon, new Date(window.startMs), new Date(window.endMs)],
    );
    // The writes find their rows by key, one lookup each.
    await client.query('RESET enable_nestloop');
    const written = await client.query(
      `INSERT INTO kaizen.prediction_feedback (prediction_id, label, source, known_at, recorded_at, model_name, event_ts)
       SELECT id, label, $1, known_at, now(), $2, event_ts FROM label_matched
       ON CONFLICT (prediction_id) DO UPDATE
         SET label = excluded.label, source = excluded.source, known_at = excluded.known_at, recorded_at = now(),
           model_name = excluded.model_name, event_ts = excluded.event_ts
         WHERE kaizen.prediction_feedback.source <> 'feedback'`,
      [feedbackSource, model],
    );
    const removed = await client.query(
      `DELETE FROM kaizen.prediction_feedback f USING label_pending t
       WHERE f.prediction_id = t.id AND f.source = $1
         AND NOT EXISTS (SELECT 1 FROM label_matched m WHERE m.id = t.id)`,
      [feedbackSource],
    );
    const matched = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM label_matched');
    return {
      ...counted,
      matched: matched.rows[0].n,
      written: written.rowCount ?? 0,
      removed: removed.rowCount ?? 0,
    };
  });
}
