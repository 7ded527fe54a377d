/**
 * From verdicts to alerts: the drift type of each verdict over consecutive windows, then the policy's
 * hysteresis (the same verdict in N consecutive windows) and cooldown (no repeat of the same kind and
 * subject for a while). Pure functions over the window's analysis and the stored history.
 */
import type { AlertKind, MonitorPolicy } from './policy.js';
import { parseDuration } from '../feature-store/index.js';
import type { DriftFinding, PerformanceFinding, WindowAnalysis } from './window-analysis.js';

/**
 * Sudden: the signal appeared in one step. Gradual (also incremental): it built up over several
 * windows. Recurring: the window looks like the world an older version was trained on.
 */
export type DriftType = 'sudden' | 'gradual' | 'recurring';

/** A verdict of an earlier window, as stored (newest first in a history). */
export interface VerdictPoint {
  windowStartMs: number;
  windowEndMs: number;
  /** 1: drift / degraded, 0: stable / ok, null: no verdict. */
  value: number | null;
  strength: number;
  type?: DriftType;
}

/** Histories by `<kind>:<subject>`, newest first, of the windows before the current one (results.ts readVerdictHistory). */
export type VerdictHistory = Map<string, VerdictPoint[]>;

export const historyKey = (kind: AlertKind, subject: string) => `${kind}:${subject}`;

/** A previous window at most this weaker still counts as part of a build-up. */
const BUILD_UP_SHARE = 0.4;

/**
 * The type of a verdict that holds now, from the same subject's previous windows (newest first): an
 * episode keeps the type it started with; a new one is gradual when the previous window
 * already carried a good share of today's strength and had itself risen, sudden otherwise.
 */
export function driftType(
  current: { strength: number; closerTo?: unknown },
  history: readonly VerdictPoint[],
): DriftType {
  if (current.closerTo) return 'recurring';
  const [previous, beforePrevious] = history;
  if (previous?.value === 1 && previous.type && previous.type !== 'recurring') return previous.type;
  if (
    previous &&
    beforePrevious &&
    previous.strength >= BUILD_UP_SHARE * current.strength &&
    previous.strength > beforePrevious.strength
  )
    return 'gradual';
  return 'sudden';
}

export interface RaisedAlert {
  kind: AlertKind;
  subject: string;
  driftType: DriftType | null;
  message: string;
  figures: Record<string, unknown>;
}

/** One verdict of the window, with what an alert would say. */
export interface WindowVerdict {
  kind: AlertKind;
  subject: string;
  value: number | null;
  strength: number;
  type?: DriftType;
  message: string;
  figures: Record<string, unknown>;
}

const fmt = (x: number | undefined) =>
  x === undefined ? '—' : Number.isFinite(x) ? Number(x.toPrecision(3)).toString() : String(x);
const binary = (verdict: string) =>
  verdict === 'no_verdict' ? null : verdict === 'drift' || verdict === 'degraded' ? 1 : 0;
const shown = (subject: string) => (subject === '' ? 'the whole window' : subject);

/** Every verdict of an analysis, typed against the history (types only where the verdict holds). */
export function windowVerdicts(analysis: WindowAnalysis, history: VerdictHistory): WindowVerdict[] {
  const verdicts: WindowVerdict[] = [];
  const add = (verdict: Omit<WindowVerdict, 'type'>, closerTo?: unknown) => {
    const typed: WindowVerdict = { ...verdict };
    if (verdict.value === 1 && verdict.kind !== 'data_quality')
      typed.type = driftType(
        { strength: verdict.strength, closerTo },
        history.get(historyKey(verdict.kind, verdict.subject)) ?? [],
      );
    verdicts.push(typed);
  };
  const drift = (kind: AlertKind, f: DriftFinding) => {
    const figures = {
      rows: f.rows,
      psi: f.psi,
      test: f.test,
      statistic: f.statistic,
      pValue: f.pValue,
      effect: f.effect,
      ...(f.closerTo ? { closerTo: f.closerTo } : {}),
    };
    add(
      {
        kind,
        subject: f.subject,
        value: binary(f.verdict),
        strength: f.strength,
        message: `${kind === 'prediction_drift' ? 'prediction drift' : `data drift in ${f.subject}`}: ${f.reason}${
          f.closerTo
            ? `; closer to v${f.closerTo.version}'s training data (KS D ${fmt(f.closerTo.statistic)})`
            : ''
        }`,
        figures,
      },
      f.closerTo,
    );
    if (kind === 'data_drift')
      add({
        kind: 'data_quality',
        subject: f.subject,
        value: binary(f.quality),
        strength: 0,
        message: `data quality of ${f.subject}: ${f.reason}`,
        figures: {
          rows: f.rows,
          nullRate: f.nullRate,
          referenceNullRate: f.referenceNullRate,
          outOfRangeRate: f.outOfRangeRate,
          unseenRate: f.unseenRate,
        },
      });
  };
  for (const f of analysis.features) drift('data_drift', f);
  if (analysis.score) drift('prediction_drift', analysis.score);
  for (const p of analysis.performance) verdictsOfPerformance(p).forEach((v) => add(v));
  return verdicts;
}

function verdictsOfPerformance(p: PerformanceFinding): Array<Omit<WindowVerdict, 'type'>> {
  const figures = {
    rows: p.rows,
    labelled: p.labelled,
    auc: p.realized?.auc ?? null,
    aucStandardError: p.realized?.aucStandardError ?? null,
    estimatedAuc: p.estimated.auc,
    referenceAuc: p.referenceAuc,
    referenceEstimatedAuc: p.referenceEstimatedAuc,
  };
  return [
    {
      kind: 'performance',
      subject: p.subject,
      value: binary(p.verdict),
      strength: p.strength,
      message: `performance of ${shown(p.subject)}: ${p.reason}`,
      figures,
    },
    {
      kind: 'estimated_performance',
      subject: p.subject,
      value: binary(p.estimatedVerdict),
      strength: p.estimatedStrength,
      message: `estimated performance of ${shown(p.subject)}: AUC ${fmt(p.estimated.auc)} vs ${fmt(p.referenceEstimatedAuc)} estimated on validation (before labels)`,
      figures,
    },
  ];
}

/**
 * The alerts a window raises: verdicts that hold now and in the previous `consecutiveWindows − 1`
 * windows, of the kinds the policy alerts on, not within the cooldown of the last alert of
 * the same kind and subject (`lastAlertEndMs`).
 */
export function alertsToRaise(
  verdicts: readonly WindowVerdict[],
  history: VerdictHistory,
  policy: MonitorPolicy,
  window: { startMs: number; endMs: number },
  lastAlertEndMs: (kind: AlertKind, subject: string) => number | undefined,
): RaisedAlert[] {
  const cooldownMs = parseDuration(policy.alerts.cooldown);
  const alerts: RaisedAlert[] = [];
  for (const v of verdicts) {
    if (v.value !== 1 || !policy.alerts.on.includes(v.kind)) continue;
    const earlier = (history.get(historyKey(v.kind, v.subject)) ?? []).slice(
      0,
      policy.alerts.consecutiveWindows - 1,
    );
    if (earlier.length < policy.alerts.consecutiveWindows - 1 || earlier.some((p) => p.value !== 1)) continue;
    const last = lastAlertEndMs(v.kind, v.subject);
    if (last !== undefined && last !== window.endMs && window.endMs - last < cooldownMs) continue;
    alerts.push({
      kind: v.kind,
      subject: v.subject,
      driftType: v.type ?? null,
      message: v.type ? `${v.message} [${v.type}]` : v.message,
      figures: v.figures,
    });
  }
  return alerts;
}
