/**
 * Monitor results and alerts in Postgres: one row per (model, version, window, metric, subject),
 * written whole per window (a re-run replaces its window), read back as verdict histories for drift
 * types and hysteresis, and as tables for the CLI, the `models` router and `/metrics`.
 */
import { and, asc, desc, eq, gte, inArray, lt, lte, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { monitorAlerts, monitorResults } from '../db/schema.js';
import { historyKey, type RaisedAlert, type VerdictHistory, type WindowVerdict } from './alerts.js';
import type { AlertKind } from './policy.js';
import type { WindowAnalysis } from './window-analysis.js';

export interface MonitorWindow {
  model: string;
  startMs: number;
  endMs: number;
  asOfMs: number;
  /** The workflow (or caller) that computed it. */
  computedBy: string;
}

type ResultRow = typeof monitorResults.$inferInsert;

/** A finite figure, or null (NaN and ±Infinity are not stored as values). */
const figure = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);

/** The result rows of one version's analysis and its verdicts. */
export function resultRows(
  window: MonitorWindow,
  analysis: WindowAnalysis,
  verdicts: readonly WindowVerdict[],
): ResultRow[] {
  const base = {
    modelName: window.model,
    version: analysis.version,
    windowStart: new Date(window.startMs),
    windowEnd: new Date(window.endMs),
    asOf: new Date(window.asOfMs),
    computedBy: window.computedBy,
  };
  const rows: ResultRow[] = [];
  const add = (
    metric: string,
    subject: string,
    value: number | null | undefined,
    details?: Record<string, unknown>,
  ) => rows.push({ ...base, metric, subject, value: figure(value ?? undefined), details: details ?? null });
  add('rows', '', analysis.rows);
  add('labelled', '', analysis.labelled);
  add('label_coverage', '', analysis.rows > 0 ? analysis.labelled / analysis.rows : null);
  for (const slice of analysis.skippedSlices) add('slice', slice.name, null, { reason: slice.reason });
  if (!analysis.profiled)
    add('profile', '', null, { reason: 'this version has no reference profile: no verdicts' });
  for (const f of [...analysis.features, ...(analysis.score ? [analysis.score] : [])]) {
    add('psi', f.subject, f.psi);
    add(f.test === 'chi2' ? 'chi2_statistic' : 'ks_statistic', f.subject, f.statistic);
    add('p_value', f.subject, f.pValue);
    add(f.test === 'chi2' ? 'cramers_v' : 'ks_effect', f.subject, f.effect);
    add('null_rate', f.subject, f.nullRate, { reference: f.referenceNullRate });
    if (f.outOfRangeRate !== undefined) add('out_of_range_rate', f.subject, f.outOfRangeRate);
    if (f.unseenRate !== undefined) add('unseen_rate', f.subject, f.unseenRate);
  }
  for (const p of analysis.performance) {
    if (p.subject !== '') {
      add('rows', p.subject, p.rows);
      add('labelled', p.subject, p.labelled);
    }
    const r = p.realized;
    add('auc', p.subject, r?.auc, {
      referenceAuc: figure(p.referenceAuc),
      standardError: figure(r?.aucStandardError),
    });
    add('precision', p.subject, r?.precision);
    add('recall', p.subject, r?.recall);
    add('log_loss', p.subject, r?.logLoss);
    add('calibration_error', p.subject, r?.calibrationError);
    add('positive_rate', p.subject, r?.positiveRate);
    add('estimated_auc', p.subject, p.estimated.auc, { reference: figure(p.referenceEstimatedAuc) });
    add('estimated_precision', p.subject, p.estimated.precision);
    add('estimated_recall', p.subject, p.estimated.recall);
    add('estimated_positive_rate', p.subject, p.estimated.positiveRate);
  }
  // Verdicts: metric = the alert kind; value 1 (drift, degraded), 0, or null (no verdict).
  for (const v of verdicts)
    add(v.kind, v.subject, v.value, {
      strength: figure(v.strength),
      type: v.type ?? null,
      message: v.message,
      figures: v.figures,
    });
  return rows.map((r) => ({ ...r, details: r.details === null ? null : jsonSafe(r.details) }));
}

/** NaN and ±Infinity become null: jsonb holds neither. */
function jsonSafe(value: unknown): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)),
  );
}

/** Replaces the window's results (every version) with `rows`, atomically: a re-run never doubles them. */
export async function writeResults(db: Db, window: MonitorWindow, rows: ResultRow[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .delete(monitorResults)
      .where(
        and(
          eq(monitorResults.modelName, window.model),
          eq(monitorResults.windowStart, new Date(window.startMs)),
          eq(monitorResults.windowEnd, new Date(window.endMs)),
        ),
      );
    for (let i = 0; i < rows.length; i += 1000)
      await tx.insert(monitorResults).values(rows.slice(i, i + 1000));
  });
}

/**
 * Verdicts of the windows before this one, per kind and subject, newest first: windows of the same
 * length that ended before it did, at most `depth` window lengths earlier (tumbling windows one
 * after another, or sliding ones a schedule monitors more often than their length), `depth` at most.
 */
export async function readVerdictHistory(
  db: Db,
  window: MonitorWindow,
  depth: number,
): Promise<VerdictHistory> {
  const length = window.endMs - window.startMs;
  const rows = await db
    .select()
    .from(monitorResults)
    .where(
      and(
        eq(monitorResults.modelName, window.model),
        gte(monitorResults.windowEnd, new Date(window.endMs - depth * length)),
        lt(monitorResults.windowEnd, new Date(window.endMs)),
        sql`${monitorResults.windowEnd} - ${monitorResults.windowStart} = ${`${length} milliseconds`}::interval`,
        inArray(monitorResults.metric, [
          'data_drift',
          'prediction_drift',
          'data_quality',
          'performance',
          'estimated_performance',
        ]),
      ),
    )
    .orderBy(desc(monitorResults.windowEnd), desc(monitorResults.version));
  const history: VerdictHistory = new Map();
  for (const row of rows) {
    const key = historyKey(row.metric as AlertKind, row.subject);
    const points = history.get(key) ?? [];
    const end = row.windowEnd.getTime();
    // One point per window (the newest version's), `depth` of them.
    if (points.length >= depth || points[points.length - 1]?.windowEndMs === end) continue;
    const details = (row.details ?? {}) as { strength?: number | null; type?: string | null };
    points.push({
      windowStartMs: row.windowStart.getTime(),
      windowEndMs: end,
      value: row.value,
      strength: details.strength ?? 0,
      ...(details.type ? { type: details.type as 'sudden' | 'gradual' | 'recurring' } : {}),
    });
    history.set(key, points);
  }
  return history;
}

/**
 * The end of the latest alert per kind and subject of windows ending in [sinceMs, untilMs], for
 * cooldowns (windows after this one, monitored earlier in a backfill, do not count).
 */
export async function lastAlertEnds(
  db: Db,
  model: string,
  sinceMs: number,
  untilMs: number,
): Promise<Map<string, number>> {
  const rows = await db
    .select({
      kind: monitorAlerts.kind,
      subject: monitorAlerts.subject,
      end: sql<Date>`max(${monitorAlerts.windowEnd})`,
    })
    .from(monitorAlerts)
    .where(
      and(
        eq(monitorAlerts.modelName, model),
        gte(monitorAlerts.windowEnd, new Date(sinceMs)),
        lte(monitorAlerts.windowEnd, new Date(untilMs)),
      ),
    )
    .groupBy(monitorAlerts.kind, monitorAlerts.subject);
  return new Map(rows.map((r) => [historyKey(r.kind as AlertKind, r.subject), new Date(r.end).getTime()]));
}

export type StoredAlert = typeof monitorAlerts.$inferSelect;

/** Records alerts (one per model, window, kind and subject: a re-run finds them in place). */
export async function recordAlerts(
  db: Db,
  window: MonitorWindow,
  version: number,
  policyVersion: number | null,
  alerts: readonly RaisedAlert[],
): Promise<StoredAlert[]> {
  if (alerts.length > 0)
    await db
      .insert(monitorAlerts)
      .values(
        alerts.map((a) => ({
          modelName: window.model,
          version,
          windowStart: new Date(window.startMs),
          windowEnd: new Date(window.endMs),
          kind: a.kind,
          subject: a.subject,
          driftType: a.driftType,
          message: a.message,
          figures: jsonSafe(a.figures),
          policyVersion,
          raisedBy: window.computedBy,
        })),
      )
      .onConflictDoNothing();
  return readAlerts(db, window.model, { startMs: window.startMs, endMs: window.endMs, exact: true });
}

/** A model's alerts of windows within [startMs, endMs) (or exactly that window), oldest first. */
export function readAlerts(
  db: Db,
  model: string,
  range: { startMs?: number; endMs?: number; exact?: boolean; limit?: number } = {},
) {
  const conditions = [eq(monitorAlerts.modelName, model)];
  if (range.exact) {
    conditions.push(
      eq(monitorAlerts.windowStart, new Date(range.startMs!)),
      eq(monitorAlerts.windowEnd, new Date(range.endMs!)),
    );
  } else {
    if (range.startMs !== undefined) conditions.push(gte(monitorAlerts.windowStart, new Date(range.startMs)));
    if (range.endMs !== undefined) conditions.push(lte(monitorAlerts.windowEnd, new Date(range.endMs)));
  }
  return db
    .select()
    .from(monitorAlerts)
    .where(and(...conditions))
    .orderBy(asc(monitorAlerts.windowEnd), asc(monitorAlerts.id))
    .limit(range.limit ?? 10_000);
}

export type StoredResult = typeof monitorResults.$inferSelect;

/** A model's results of windows within [startMs, endMs), oldest window first. */
export function readResults(db: Db, model: string, range: { startMs?: number; endMs?: number } = {}) {
  const conditions = [eq(monitorResults.modelName, model)];
  if (range.startMs !== undefined) conditions.push(gte(monitorResults.windowStart, new Date(range.startMs)));
  if (range.endMs !== undefined) conditions.push(lte(monitorResults.windowEnd, new Date(range.endMs)));
  return db
    .select()
    .from(monitorResults)
    .where(and(...conditions))
    .orderBy(asc(monitorResults.windowStart), asc(monitorResults.windowEnd), asc(monitorResults.version));
}

/** The latest `limit` windows of a model within [startMs, endMs): the range their results span. */
export async function latestWindowsRange(
  db: Db,
  model: string,
  range: { startMs?: number; endMs?: number },
  limit: number,
): Promise<{ startMs: number; endMs: number } | undefined> {
  const conditions = [eq(monitorResults.modelName, model)];
  if (range.startMs !== undefined) conditions.push(gte(monitorResults.windowStart, new Date(range.startMs)));
  if (range.endMs !== undefined) conditions.push(lte(monitorResults.windowEnd, new Date(range.endMs)));
  const windows = await db
    .selectDistinct({ start: monitorResults.windowStart, end: monitorResults.windowEnd })
    .from(monitorResults)
    .where(and(...conditions))
    .orderBy(desc(monitorResults.windowEnd), desc(monitorResults.windowStart))
    .limit(limit);
  if (windows.length === 0) return undefined;
  return {
    startMs: Math.min(...windows.map((w) => w.start.getTime())),
    endMs: Math.max(...windows.map((w) => w.end.getTime())),
  };
}
