/**
 * Erasing an entity key from the prediction log: the predictions whose logged entities hold it (as
 * `predict` and batch scoring log them: one part as a string, or a number when the caller sent one;
 * several parts as an array of strings) and the labels joined or fed back to them by id.
 */
import type pg from 'pg';

export interface PredictionLogErasure {
  predictions: number;
  feedback: number;
}

/** The JSON spellings an entity's key has in logged `entities`. */
function loggedSpellings(parts: readonly string[]): string[] {
  if (parts.length > 1) return [JSON.stringify(parts)];
  const [part] = parts;
  const spellings = [JSON.stringify(part)];
  // A caller may have sent the key as a number: the same key only when it spells back the same.
  if (part.trim() !== '' && String(Number(part)) === part) spellings.push(part);
  return spellings;
}

export async function eraseFromPredictionLog(
  pool: pg.Pool,
  entity: string,
  parts: readonly string[],
): Promise<PredictionLogErasure> {
  const { rows } = await pool.query<{ predictions: number; feedback: number }>(
    `WITH gone AS (
       DELETE FROM kaizen.predictions WHERE entities -> $1::text = ANY($2::jsonb[]) RETURNING id
     ), feedback AS (
       DELETE FROM kaizen.prediction_feedback f USING gone WHERE f.prediction_id = gone.id RETURNING 1
     )
     SELECT (SELECT count(*) FROM gone)::int AS predictions, (SELECT count(*) FROM feedback)::int AS feedback`,
    [entity, loggedSpellings(parts)],
  );
  return rows[0];
}

/**
 * Retention of the prediction log: predictions logged before `cutoffMs` go, with the labels joined or
 * fed back to them; the purge is recorded (kaizen.retention_purges, target `predictions`).
 */
export async function purgePredictionLog(
  pool: pg.Pool,
  cutoffMs: number,
  purgedBy: string,
): Promise<PredictionLogErasure & { cutoff: string }> {
  const cutoff = new Date(cutoffMs);
  const { rows } = await pool.query<{ predictions: number; feedback: number }>(
    `WITH gone AS (
       DELETE FROM kaizen.predictions WHERE predicted_at < $1 RETURNING id
     ), feedback AS (
       DELETE FROM kaizen.prediction_feedback f USING gone WHERE f.prediction_id = gone.id RETURNING 1
     ), recorded AS (
       INSERT INTO kaizen.retention_purges (target, cutoff, rows, purged_by)
       SELECT 'predictions', $1, count(*), $2 FROM gone HAVING count(*) > 0
     )
     SELECT (SELECT count(*) FROM gone)::int AS predictions, (SELECT count(*) FROM feedback)::int AS feedback`,
    [cutoff, purgedBy],
  );
  return { ...rows[0], cutoff: cutoff.toISOString() };
}
