/**
 * Labels fed back through the API, in batches: by prediction id (stored as the prediction's label at
 * once), or by the event they are about — a label source's entity keys and request fields and the
 * event's time (stored with the source's labels and joined to predictions by the monitor, so a label
 * may arrive before the prediction it judges is logged). Idempotent: sending a batch again changes
 * nothing; a different label for the same prediction or event is a conflict unless `replace` says so.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { labels, predictionFeedback, predictions } from '../../db/schema.js';
import {
  entityKeyOverLimit,
  isUsableTime,
  MAX_ENTITY_KEY_BYTES,
  parseTimestampText,
} from '../../feature-store/index.js';
import { findDefinition } from '../../models/definitions.js';
import { labelKeyOf, type KeyValue, type LabelSourceDefinition } from './label-source.js';

export type FeedbackItem =
  | { predictionId: string; label: 0 | 1 }
  | { source: string; entities: Record<string, KeyValue>; eventTime: string | number; label: 0 | 1 };

export type FeedbackOutcome =
  /** Stored (by id: the prediction's label; by event: pending the join with predictions). */
  | 'recorded'
  /** The same label was there already (a retried batch). */
  | 'unchanged'
  /** A different label replaced the previous one (`replace`). */
  | 'replaced'
  /** A different label is there already and `replace` was not set: kept as it was. */
  | 'conflict'
  /** No such prediction in the log: not stored. */
  | 'unknown_prediction'
  /** The event's key fields or time are missing or unusable for the source: not stored. */
  | 'invalid_event';

export interface FeedbackResult {
  outcomes: Array<{ outcome: FeedbackOutcome; reason?: string }>;
  counts: Partial<Record<FeedbackOutcome, number>>;
}

/** Finds a label source for keyed feedback; undefined when none is registered under the name. */
export type LabelSourceLookup = (
  name: string,
) => Promise<{ name: string; version: number; definition: LabelSourceDefinition } | undefined>;

export const registeredLabelSources =
  (db: Db): LabelSourceLookup =>
  (name) =>
    findDefinition<LabelSourceDefinition>(db, 'labelSource', name);

export async function recordFeedback(
  db: Db,
  items: readonly FeedbackItem[],
  opts: { replace?: boolean; now?: Date; labelSource?: LabelSourceLookup } = {},
): Promise<FeedbackResult> {
  const now = opts.now ?? new Date();
  const lookup = opts.labelSource ?? registeredLabelSources(db);
  const outcomes: FeedbackResult['outcomes'] = new Array(items.length);
  const byId = items.flatMap((item, i) => ('predictionId' in item ? [{ ...item, i }] : []));
  if (byId.length > 0) {
    const decided = await recordByPredictionId(db, byId, Boolean(opts.replace), now);
    byId.forEach((f, k) => (outcomes[f.i] = decided[k]));
  }
  for (const [i, item] of items.entries()) {
    if ('predictionId' in item) continue;
    outcomes[i] = await recordEventLabel(db, item, lookup, Boolean(opts.replace), now);
  }
  const counts: FeedbackResult['counts'] = {};
  for (const { outcome } of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
  return { outcomes, counts };
}

async function recordEventLabel(
  db: Db,
  item: Extract<FeedbackItem, { source: string }>,
  lookup: LabelSourceLookup,
  replace: boolean,
  now: Date,
): Promise<FeedbackResult['outcomes'][number]> {
  const source = await lookup(item.source);
  if (!source)
    return {
      outcome: 'invalid_event',
      reason: `unknown label source "${item.source}": define it as code and run kaizen apply`,
    };
  const key = labelKeyOf(source.definition)((field) => item.entities[field]);
  if (key === null)
    return {
      outcome: 'invalid_event',
      reason: `the event needs every key field of ${item.source}: ${[
        ...source.definition.entities.map((e) => e.name),
        ...Object.keys(source.definition.request ?? {}),
      ].join(', ')}`,
    };
  const keyBytes = entityKeyOverLimit(key);
  if (keyBytes > 0)
    return {
      outcome: 'invalid_event',
      reason: `the event's key is ${keyBytes} bytes, at most ${MAX_ENTITY_KEY_BYTES}`,
    };
  const eventMs = typeof item.eventTime === 'number' ? item.eventTime : parseTimestampText(item.eventTime);
  if (!Number.isFinite(eventMs))
    return {
      outcome: 'invalid_event',
      reason: `eventTime ${JSON.stringify(item.eventTime)} is not ISO 8601 or epoch ms`,
    };
  // Postgres and Date hold times far wider than this, but not every number: 1e20 ms is no time.
  if (!isUsableTime(eventMs))
    return {
      outcome: 'invalid_event',
      reason: `eventTime ${JSON.stringify(item.eventTime)} is outside [1900-01-01, 2200-01-01)`,
    };
  const eventTs = new Date(eventMs);
  const where = and(
    eq(labels.sourceName, source.name),
    eq(labels.key, key),
    eq(labels.eventTs, eventTs),
    eq(labels.origin, 'feedback'),
  );
  // No lock (ingest.ts lockLabelSource): a serving request must never wait on a join; a single-row
  // insert stamps its row right before committing, which the join's margin covers (resolve.ts).
  return db.transaction(async (tx) => {
    const [inserted] = await tx
      .insert(labels)
      .values({
        sourceName: source.name,
        sourceVersion: source.version,
        origin: 'feedback',
        key,
        eventTs,
        knownAt: now,
        label: item.label,
        createdAt: sql`clock_timestamp()`,
      })
      .onConflictDoNothing()
      .returning({ id: labels.id });
    if (inserted) return { outcome: 'recorded' as const };
    const [before] = await tx.select({ label: labels.label }).from(labels).where(where);
    if (before.label === item.label) return { outcome: 'unchanged' as const };
    if (!replace)
      return {
        outcome: 'conflict' as const,
        reason: `labelled ${before.label} already (send replace: true to change it)`,
      };
    await tx
      .update(labels)
      .set({ label: item.label, knownAt: now, createdAt: sql`clock_timestamp()` })
      .where(where);
    return { outcome: 'replaced' as const };
  });
}

/**
 * Labels by prediction id, in one transaction: the predictions' current labels are locked while the
 * batch decides, and a label fed back by a concurrent batch is never overwritten unless `replace` —
 * the upsert itself refuses it (a row that did not exist when it was read may exist at the insert).
 */
async function recordByPredictionId(
  db: Db,
  items: ReadonlyArray<{ predictionId: string; label: 0 | 1 }>,
  replace: boolean,
  now: Date,
): Promise<FeedbackResult['outcomes']> {
  const ids = items.map((f) => f.predictionId);
  return db.transaction(async (tx) => {
    const known = new Map(
      (
        await tx
          .select({ id: predictions.id, modelName: predictions.modelName, eventTs: predictions.eventTs })
          .from(predictions)
          .where(inArray(predictions.id, ids))
      ).map((r) => [r.id, r]),
    );
    const current = async () =>
      new Map(
        (
          await tx
            .select({
              id: predictionFeedback.predictionId,
              label: predictionFeedback.label,
              source: predictionFeedback.source,
            })
            .from(predictionFeedback)
            .where(inArray(predictionFeedback.predictionId, ids))
            .for('update')
        ).map((r) => [r.id, r]),
      );
    const existing = await current();
    const decide = (f: (typeof items)[number], before: { label: number; source: string } | undefined) => {
      if (!known.has(f.predictionId))
        return {
          outcome: 'unknown_prediction' as const,
          reason: `no prediction ${f.predictionId} in the log (one answered a moment ago may not be logged yet: retry)`,
        };
      if (before?.source === 'feedback' && before.label === f.label) return { outcome: 'unchanged' as const };
      if (before?.source === 'feedback' && !replace)
        return {
          outcome: 'conflict' as const,
          reason: `labelled ${before.label} already (send replace: true to change it)`,
        };
      // A label joined from a label source gives way to one fed back for this very prediction.
      return { outcome: before?.source === 'feedback' ? ('replaced' as const) : ('recorded' as const) };
    };
    const outcomes: FeedbackResult['outcomes'] = items.map((f) => decide(f, existing.get(f.predictionId)));
    const writes = items.filter((_, k) => ['recorded', 'replaced'].includes(outcomes[k].outcome));
    if (writes.length === 0) return outcomes;
    const written = new Set(
      (
        await tx
          .insert(predictionFeedback)
          .values(
            writes.map((f) => {
              const { modelName, eventTs } = known.get(f.predictionId)!;
              return { ...f, source: 'feedback', knownAt: now, recordedAt: now, modelName, eventTs };
            }),
          )
          .onConflictDoUpdate({
            target: predictionFeedback.predictionId,
            set: {
              label: sql`excluded.label`,
              source: sql`excluded.source`,
              knownAt: sql`excluded.known_at`,
              recordedAt: sql`excluded.recorded_at`,
              modelName: sql`excluded.model_name`,
              eventTs: sql`excluded.event_ts`,
            },
            setWhere: replace ? undefined : sql`${predictionFeedback.source} <> 'feedback'`,
          })
          .returning({ id: predictionFeedback.predictionId })
      ).map((r) => r.id),
    );
    // Refused by the upsert: fed back meanwhile by another batch; decide against what it wrote.
    if (written.size < writes.length) {
      const after = await current();
      items.forEach((f, k) => {
        if (['recorded', 'replaced'].includes(outcomes[k].outcome) && !written.has(f.predictionId))
          outcomes[k] = decide(f, after.get(f.predictionId));
      });
    }
    return outcomes;
  });
}
