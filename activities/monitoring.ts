/**
 * Activities of the monitor: plan a window (its policy and label source), ingest the label source's
 * chunks, join labels to the window's predictions, then analyze the window and raise alerts.
 */
import { eq } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { models } from '../db/schema.js';
import { MATERIALIZATION } from '../constants.js';
import { InvalidInputError, parseDuration, planChunks, type FeatureStore } from '../feature-store/index.js';
import { findDefinition } from '../models/definitions.js';
import { ModelNotFoundError } from '../models/errors.js';
import { ingestLabelChunk, refileUntimedLabels } from '../monitoring/labels/ingest.js';
import { DEFAULT_LABEL_HORIZON } from '../monitoring/labels/label-source.js';
import { resolveLabels } from '../monitoring/labels/resolve.js';
import { monitorWindow, type MonitorSummary } from '../monitoring/monitor.js';
import {
  defaultPolicy,
  parseMonitorPolicy,
  scheduledWindows,
  type MonitorPolicy,
} from '../monitoring/policy.js';
import { getLabelSource } from '../monitoring/registry.js';
import { heartbeatingActivity } from './heartbeat.js';

export interface MonitorWindowInput {
  model: string;
  startMs: number;
  endMs: number;
  /** Labels known after this time are not counted (a schedule's run: its scheduled time). */
  asOfMs: number;
}

export interface MonitorPlan {
  policy: { definition: MonitorPolicy; version: number | null };
  /** The policy's label source, when it has one. */
  labels?: {
    source: string;
    version: number;
    /** Event-time chunks of the source to ingest; empty for sources fed back through the API only. */
    chunks: Array<{ startMs: number; endMs: number }>;
  };
}

const isTime = (ms: unknown): ms is number => typeof ms === 'number' && Number.isFinite(ms);

export function createMonitoringActivities(deps: { database: Database; store: FeatureStore }) {
  const { db, pool } = deps.database;
  const dataRoot = deps.store.dataRoot;
  const labelSource = (name: string, version: number) => getLabelSource(db, name, version);

  return {
    /** Validates the request and pins the policy (registered or default) and its label source. */
    planMonitorWindow: heartbeatingActivity(async (input: MonitorWindowInput): Promise<MonitorPlan> => {
      if (
        !isTime(input.startMs) ||
        !isTime(input.endMs) ||
        !isTime(input.asOfMs) ||
        !(input.endMs > input.startMs)
      )
        throw new InvalidInputError(
          `invalid monitor window [${input.startMs}, ${input.endMs}) as of ${input.asOfMs}: expected epoch ms with end after start`,
        );
      const [model] = await db.select({ name: models.name }).from(models).where(eq(models.name, input.model));
      if (!model) throw new ModelNotFoundError(`unknown model "${input.model}"`);
      const stored = await findDefinition<MonitorPolicy>(db, 'monitorPolicy', input.model);
      const policy = stored
        ? { definition: parseMonitorPolicy(stored.definition), version: stored.version }
        : { definition: defaultPolicy(input.model), version: null };
      if (!policy.definition.labels) return { policy };
      const source = await getLabelSource(db, policy.definition.labels);
      // Labels of the window's predictions are about events up to the horizon after its end.
      const horizon = parseDuration(source.definition.horizon ?? DEFAULT_LABEL_HORIZON);
      const chunks = source.definition.source
        ? planChunks({ startMs: input.startMs, endMs: input.endMs + horizon }, MATERIALIZATION.chunkMs)
        : [];
      return { policy, labels: { source: source.name, version: source.version, chunks } };
    }),

    /** The windows a scheduled run monitors as of `asOfMs`, under the policy's `settle` (scheduledWindows). */
    planScheduledMonitor: heartbeatingActivity(
      async (input: { model: string; asOfMs: number; windowMs: number; everyMs: number }) => {
        const stored = await findDefinition<MonitorPolicy>(db, 'monitorPolicy', input.model);
        const settleMs = parseDuration(
          (stored ? parseMonitorPolicy(stored.definition) : defaultPolicy(input.model)).settle,
        );
        return scheduledWindows({ ...input, settleMs });
      },
    ),

    /** Ingests one chunk of a label source (exactly once per source state); the first of a run also refiles untimed rows. */
    ingestLabelChunk: heartbeatingActivity(
      async (
        input: { source: string; version: number; startMs: number; endMs: number; includeUntimed?: boolean },
        report,
      ) => {
        const source = await labelSource(input.source, input.version);
        report({ phase: 'ingest', chunk: new Date(input.startMs).toISOString() });
        const chunk = await ingestLabelChunk({ db, pool, dataRoot }, source, input);
        const untimed = input.includeUntimed ? await refileUntimedLabels({ db, pool, dataRoot }, source) : 0;
        return { ...chunk, untimed };
      },
    ),

    /** Joins the label source's labels to the model's predictions of the window. */
    resolveLabels: heartbeatingActivity(
      async (
        input: { source: string; version: number; model: string; startMs: number; endMs: number },
        report,
      ) => {
        report({ phase: 'join labels to predictions' });
        return resolveLabels(pool, await labelSource(input.source, input.version), input.model, input);
      },
    ),

    /** Analyzes the window, stores its results and raises the policy's alerts. */
    computeMonitorWindow: heartbeatingActivity(
      async (
        input: MonitorWindowInput & { policy: MonitorPlan['policy']; computedBy: string },
        report,
      ): Promise<MonitorSummary> =>
        monitorWindow({ db, pool }, { ...input }, input.policy, (phase) => report({ phase })),
    ),
  };
}
