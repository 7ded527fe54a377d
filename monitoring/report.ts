/**
 * Stored monitor results regrouped for people: one report per (window, version) with its
 * performance (overall and per slice) and its inputs' drift and quality, as the CLI prints it and the
 * `models.monitoring` procedure returns it.
 */
import type { StoredAlert, StoredResult } from './results.js';

export interface PerformanceRow {
  /** '' for the whole window, else `<slice>=<value>`. */
  subject: string;
  rows: number | null;
  labelled: number | null;
  auc: number | null;
  precision: number | null;
  recall: number | null;
  logLoss: number | null;
  calibrationError: number | null;
  estimatedAuc: number | null;
  referenceAuc: number | null;
  /** 1 degraded, 0 ok, null no verdict (realized, then estimated). */
  verdict: number | null;
  estimatedVerdict: number | null;
  type: string | null;
  reason: string | null;
}

export interface DriftRow {
  /** A model input, or `score`. */
  subject: string;
  nullRate: number | null;
  outOfRangeRate: number | null;
  unseenRate: number | null;
  psi: number | null;
  /** KS D or chi-squared statistic, and its p-value. */
  statistic: number | null;
  pValue: number | null;
  /** 1 drift, 0 stable, null no verdict. */
  verdict: number | null;
  type: string | null;
  quality: number | null;
  reason: string | null;
}

export interface WindowReport {
  startMs: number;
  endMs: number;
  asOfMs: number;
  version: number;
  rows: number;
  labelled: number;
  /** Why there are no verdicts, when there are none (no traffic, no profile). */
  note: string | null;
  performance: PerformanceRow[];
  drift: DriftRow[];
  alerts: Array<Pick<StoredAlert, 'id' | 'kind' | 'subject' | 'driftType' | 'message'>>;
}

type Details = {
  message?: string;
  type?: string | null;
  reason?: string;
  referenceAuc?: number | null;
} | null;

export function windowReports(
  results: readonly StoredResult[],
  alerts: readonly StoredAlert[],
): WindowReport[] {
  const reports = new Map<string, WindowReport>();
  const values = new Map<string, Map<string, { value: number | null; details: Details }>>();
  for (const r of results) {
    const id = `${r.windowStart.getTime()}:${r.windowEnd.getTime()}:${r.version}`;
    let report = reports.get(id);
    if (!report) {
      report = {
        startMs: r.windowStart.getTime(),
        endMs: r.windowEnd.getTime(),
        asOfMs: r.asOf.getTime(),
        version: r.version,
        rows: 0,
        labelled: 0,
        note: null,
        performance: [],
        drift: [],
        alerts: [],
      };
      reports.set(id, report);
      values.set(id, new Map());
    }
    values.get(id)!.set(`${r.metric}\0${r.subject}`, { value: r.value, details: r.details as Details });
  }
  for (const [id, report] of reports) {
    const got = values.get(id)!;
    const value = (metric: string, subject = '') => got.get(`${metric}\0${subject}`)?.value ?? null;
    const details = (metric: string, subject = '') => got.get(`${metric}\0${subject}`)?.details ?? null;
    report.rows = value('rows') ?? 0;
    report.labelled = value('labelled') ?? 0;
    report.note = (details('profile')?.reason ?? details('rows')?.reason) || null;
    const subjects = (metric: string) =>
      [...got.keys()].filter((k) => k.startsWith(`${metric}\0`)).map((k) => k.slice(metric.length + 1));
    for (const subject of subjects('performance'))
      report.performance.push({
        subject,
        rows: subject === '' ? report.rows : value('rows', subject),
        labelled: subject === '' ? report.labelled : value('labelled', subject),
        auc: value('auc', subject),
        precision: value('precision', subject),
        recall: value('recall', subject),
        logLoss: value('log_loss', subject),
        calibrationError: value('calibration_error', subject),
        estimatedAuc: value('estimated_auc', subject),
        referenceAuc: details('auc', subject)?.referenceAuc ?? null,
        verdict: value('performance', subject),
        estimatedVerdict: value('estimated_performance', subject),
        type:
          details('performance', subject)?.type ?? details('estimated_performance', subject)?.type ?? null,
        reason: details('performance', subject)?.message ?? null,
      });
    for (const kind of ['data_drift', 'prediction_drift'])
      for (const subject of subjects(kind))
        report.drift.push({
          subject,
          nullRate: value('null_rate', subject),
          outOfRangeRate: value('out_of_range_rate', subject),
          unseenRate: value('unseen_rate', subject),
          psi: value('psi', subject),
          statistic: value('ks_statistic', subject) ?? value('chi2_statistic', subject),
          pValue: value('p_value', subject),
          verdict: value(kind, subject),
          type: details(kind, subject)?.type ?? null,
          quality: value('data_quality', subject),
          reason: details(kind, subject)?.message ?? null,
        });
  }
  // Stable order whatever the rows' order: the whole window first, then slices; inputs by name, the score last.
  const bySubject = (a: { subject: string }, b: { subject: string }) => compareSubjects(a.subject, b.subject);
  for (const report of reports.values()) {
    report.performance.sort(bySubject);
    report.drift.sort(bySubject);
  }
  const ordered = [...reports.values()].sort(
    (a, b) => a.startMs - b.startMs || a.endMs - b.endMs || a.version - b.version,
  );
  for (const a of alerts) {
    const report = ordered.find(
      (r) =>
        r.startMs === a.windowStart.getTime() && r.endMs === a.windowEnd.getTime() && r.version === a.version,
    );
    report?.alerts.push({
      id: a.id,
      kind: a.kind,
      subject: a.subject,
      driftType: a.driftType,
      message: a.message,
    });
  }
  return ordered;
}

/** A slice value's place: buckets by their lower end (`<x` first, `>=x` last), then text, `other` last. */
function bucketKey(value: string): [number, string] {
  if (value === 'other') return [Infinity, ''];
  const below = /^<(-?[\d.]+)$/.exec(value);
  if (below) return [-Infinity, value];
  const range = /^(-?[\d.]+)\.\.-?[\d.]+$/.exec(value) ?? /^>=(-?[\d.]+)$/.exec(value);
  return range ? [Number(range[1]), value] : [NaN, value];
}

/** '' first, `score` last; slices by slice name, then by bucket (bucketKey) or value. */
function compareSubjects(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '' || b === 'score') return -1;
  if (b === '' || a === 'score') return 1;
  // A slice is `<slice>=<value>`, and a value may hold '=' itself (`>=18`); an input has no '='.
  const parts = (subject: string) => {
    const at = subject.indexOf('=');
    return at < 0 ? [subject, ''] : [subject.slice(0, at), subject.slice(at + 1)];
  };
  const [sliceA, valueA] = parts(a);
  const [sliceB, valueB] = parts(b);
  if (sliceA !== sliceB) return sliceA < sliceB ? -1 : 1;
  const [x, textA] = bucketKey(valueA);
  const [y, textB] = bucketKey(valueB);
  if (!Number.isNaN(x) && !Number.isNaN(y) && x !== y) return x - y;
  if (Number.isNaN(x) !== Number.isNaN(y)) return Number.isNaN(x) ? -1 : 1;
  return textA < textB ? -1 : textA > textB ? 1 : 0;
}
