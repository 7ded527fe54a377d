/**
 * One monitor window of a model, end to end over the database: read the window's predictions (with
 * the labels known by its as-of time), analyze each version present against its reference profile,
 * type every verdict against the windows before, store the results (the window's rows replaced
 * whole) and raise the alerts the policy calls for (recorded once per window, kind and subject).
 */
import { desc, eq } from 'drizzle-orm';
import type pg from 'pg';
import type { Db } from '../db/client.js';
import { models, modelVersions } from '../db/schema.js';
import { InvalidInputError, parseDuration, pinnedFeatureColumns } from '../feature-store/index.js';
import { ModelNotFoundError } from '../models/errors.js';
import { alertsToRaise, historyKey, windowVerdicts, type DriftType } from './alerts.js';
import type { MonitorPolicy } from './policy.js';
import type { ModelProfile } from './profile.js';
import {
  lastAlertEnds,
  readVerdictHistory,
  recordAlerts,
  resultRows,
  writeResults,
  type MonitorWindow,
} from './results.js';
import { sliceTexts } from './slices.js';
import { analyzeWindow, type WindowAnalysis } from './window-analysis.js';
import { readWindow } from './window-reader.js';

/** Older versions a drifted window is compared with (recurring drift), newest first. */
const RECURRING_CANDIDATES = 5;
/** Windows of history read for drift types (and at least the policy's hysteresis). */
const HISTORY_WINDOWS = 3;

export interface VersionSummary {
  version: number;
  rows: number;
  labelled: number;
  profiled: boolean;
  auc: number | null;
  estimatedAuc: number | null;
  referenceAuc: number | null;
  /** Subjects whose verdict holds: `data_drift:<input>`, `performance:<slice>`, …, with their drift type. */
  findings: Array<{ kind: string; subject: string; type: DriftType | null }>;
}

export interface MonitorSummary {
  model: string;
  startMs: number;
  endMs: number;
  asOfMs: number;
  rows: number;
  versions: VersionSummary[];
  alerts: Array<{
    id: number;
    kind: string;
    subject: string;
    driftType: string | null;
    message: string;
    /** The workflow that acted on it already (a re-run of the window finds its alerts in place). */
    consumedBy: string | null;
  }>;
  /** The workflow answering the window's new alerts (re-promotion, retraining), when one started. */
  response?: { workflowId: string } | { busy: string };
}

const finite = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);

export async function monitorWindow(
  deps: { db: Db; pool: pg.Pool },
  window: MonitorWindow,
  policy: { definition: MonitorPolicy; version: number | null },
  onPhase: (phase: string) => void = () => {},
): Promise<MonitorSummary> {
  const { db } = deps;
  if (!(window.endMs > window.startMs))
    throw new InvalidInputError('monitor window: end must be after start');
  const [model] = await db.select().from(models).where(eq(models.name, window.model));
  if (!model) throw new ModelNotFoundError(`unknown model "${window.model}"`);
  const versions = await db
    .select()
    .from(modelVersions)
    .where(eq(modelVersions.modelName, window.model))
    .orderBy(desc(modelVersions.version));
  const profiles = versions.flatMap((v) =>
    v.profile ? [{ version: v.version, profile: v.profile as ModelProfile }] : [],
  );
  // Text values to read: every version's categorical inputs, and the slices' prediction fields.
  const categorical = new Set<string>();
  for (const { profile } of profiles)
    for (const [name, f] of Object.entries(profile.features))
      if (f.kind === 'categorical') categorical.add(`features.${name}`);
  const texts = [...categorical, ...sliceTexts(policy.definition.slices)];

  onPhase('read the window');
  const windowRows = await readWindow(deps.pool, { ...window, texts });
  onPhase('analyze');
  const history = await readVerdictHistory(
    db,
    window,
    Math.max(HISTORY_WINDOWS, policy.definition.alerts.consecutiveWindows),
  );
  const analyses: Array<{ analysis: WindowAnalysis; verdicts: ReturnType<typeof windowVerdicts> }> = [];
  for (const rows of windowRows) {
    const version = versions.find((v) => v.version === rows.version);
    const analysis = analyzeWindow({
      rows,
      inputColumns: version ? pinnedFeatureColumns(version.features as string[]) : [],
      profile: (version?.profile as ModelProfile | null) ?? null,
      policy: policy.definition,
      others: profiles.filter((p) => p.version < rows.version).slice(0, RECURRING_CANDIDATES),
    });
    analyses.push({ analysis, verdicts: windowVerdicts(analysis, history) });
  }
  onPhase('store results');
  const resultSet = analyses.flatMap(({ analysis, verdicts }) => resultRows(window, analysis, verdicts));
  if (analyses.length === 0)
    resultSet.push(
      ...resultRows(
        window,
        {
          version: 0,
          rows: 0,
          labelled: 0,
          profiled: true,
          features: [],
          performance: [],
          skippedSlices: [],
        },
        [],
      ).map((row) => ({ ...row, details: { reason: 'no predictions in the window: no verdict' } })),
    );
  await writeResults(db, window, resultSet);

  // Alerts speak for the version that served most of the window.
  const primary = [...analyses].sort((a, b) => b.analysis.rows - a.analysis.rows)[0];
  let alerts: MonitorSummary['alerts'] = [];
  if (primary) {
    const lastEnds = await lastAlertEnds(
      db,
      window.model,
      window.endMs - parseDuration(policy.definition.alerts.cooldown),
      window.endMs,
    );
    const raised = alertsToRaise(primary.verdicts, history, policy.definition, window, (kind, subject) =>
      lastEnds.get(historyKey(kind, subject)),
    );
    const stored = await recordAlerts(db, window, primary.analysis.version, policy.version, raised);
    alerts = stored.map((a) => ({
      id: a.id,
      kind: a.kind,
      subject: a.subject,
      driftType: a.driftType,
      message: a.message,
      consumedBy: a.consumedBy,
    }));
  }
  return {
    model: window.model,
    startMs: window.startMs,
    endMs: window.endMs,
    asOfMs: window.asOfMs,
    rows: analyses.reduce((sum, a) => sum + a.analysis.rows, 0),
    versions: analyses.map(({ analysis, verdicts }) => {
      const overall = analysis.performance.find((p) => p.subject === '');
      return {
        version: analysis.version,
        rows: analysis.rows,
        labelled: analysis.labelled,
        profiled: analysis.profiled,
        auc: finite(overall?.realized?.auc),
        estimatedAuc: finite(overall?.estimated.auc),
        referenceAuc: finite(overall?.referenceAuc),
        findings: verdicts
          .filter((v) => v.value === 1)
          .map((v) => ({ kind: v.kind, subject: v.subject, type: v.type ?? null })),
      };
    }),
    alerts,
  };
}
