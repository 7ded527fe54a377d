/**
 * Activities of an entity erasure (workflows/erase-entity.ts): record the request, remove the key from
 * the feature store (views, training sets) and from the prediction log and labels, then record the
 * outcome. Each step is idempotent: a retry finds what its earlier attempt removed gone.
 */
import { eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { entities, erasures, modelVersions } from '../db/schema.js';
import {
  erasureKeyHashes,
  InvalidInputError,
  parseDuration,
  type FeatureStore,
  type TrainingSetErasure,
  type ViewErasure,
} from '../feature-store/index.js';
import {
  eraseFromPredictionLog,
  purgePredictionLog,
  type PredictionLogErasure,
} from '../models/prediction-log-erasure.js';
import { eraseFromLabels, type LabelErasure } from '../monitoring/labels/erase.js';
import { heartbeatingActivity } from './heartbeat.js';

export interface ErasureRequest {
  /** The erasure's id (its workflow's id and run). */
  id: string;
  entity: string;
  /** The entity's key, one part per key column. */
  parts: string[];
  requestedBy: string;
  reason: string;
}

/** An erasure as its steps take it: the key's hashes instead of the key where that is enough. */
export interface ErasureTarget {
  id: string;
  entity: string;
  keyHashes: string[];
  requestedAt: string;
}

export interface ErasureOutcome {
  views: ViewErasure[];
  trainingSets: TrainingSetErasure[];
  predictionLog: PredictionLogErasure;
  labels: LabelErasure[];
  /** Model versions trained on a training set that held the key: their weights saw it (retrain to forget). */
  modelsTrainedOnKey: Array<{ model: string; version: number; trainingSet: string }>;
}

/** What a retention run keeps: per view, and for the prediction log, a duration back from its time. */
export interface RetentionPolicy {
  views?: Record<string, string>;
  predictions?: string;
}

export function createErasureActivities(deps: { database: Database; store: FeatureStore }) {
  const { db, pool } = deps.database;
  const { store } = deps;

  return {
    /** Validates the request and records it (once per id); returns what the other steps need. */
    startErasure: heartbeatingActivity(async (request: ErasureRequest): Promise<ErasureTarget> => {
      if (
        !Array.isArray(request.parts) ||
        request.parts.length === 0 ||
        request.parts.some((p) => typeof p !== 'string' || p.trim() === '')
      )
        throw new InvalidInputError(
          `invalid erasure of "${request.entity}": the key needs one non-empty text part per key column`,
        );
      if (typeof request.reason !== 'string' || request.reason.trim() === '')
        throw new InvalidInputError('invalid erasure: give a reason (it is audited)');
      const [entity] = await db.select().from(entities).where(eq(entities.name, request.entity));
      if (!entity) throw new InvalidInputError(`unknown entity "${request.entity}": nothing is keyed by it`);
      const keyHashes = erasureKeyHashes(request.entity, request.parts);
      await db
        .insert(erasures)
        .values({
          id: request.id,
          entity: request.entity,
          keyHashes,
          requestedBy: request.requestedBy,
          reason: request.reason,
        })
        .onConflictDoNothing();
      const [row] = await db.select().from(erasures).where(eq(erasures.id, request.id));
      return { id: row.id, entity: row.entity, keyHashes, requestedAt: row.requestedAt.toISOString() };
    }),

    eraseFromViews: heartbeatingActivity((target: ErasureTarget, report) => {
      report({ phase: 'offline and online stores' });
      return store.eraseFromViews(target);
    }),

    /** `since`: only training sets recorded since then (the pass after completion). */
    eraseFromTrainingSets: heartbeatingActivity(
      (input: { target: ErasureTarget; since?: string }, report) => {
        report({ phase: 'training sets' });
        const createdSince = input.since === undefined ? undefined : new Date(input.since);
        return store.eraseFromTrainingSets(input.target, { createdSince });
      },
    ),

    eraseFromLogs: heartbeatingActivity(async (input: { target: ErasureTarget; parts: string[] }, report) => {
      report({ phase: 'prediction log' });
      const predictionLog = await eraseFromPredictionLog(pool, input.target.entity, input.parts);
      report({ phase: 'labels' });
      const labels = await eraseFromLabels(db, input.target.entity, new Set(input.target.keyHashes));
      return { predictionLog, labels };
    }),

    /** Purges one target of a retention policy (`view` by name, else the prediction log) as of `asOfMs`. */
    purgeRetention: heartbeatingActivity(
      async (input: { view?: string; keep: string; asOfMs: number; purgedBy: string }, report) => {
        const cutoffMs = input.asOfMs - parseDuration(input.keep);
        report({ phase: input.view ?? 'prediction log', cutoff: new Date(cutoffMs).toISOString() });
        return input.view === undefined
          ? { predictionLog: await purgePredictionLog(pool, cutoffMs, input.purgedBy) }
          : { views: await store.purgeView(input.view, cutoffMs, input.purgedBy) };
      },
    ),

    /**
     * Records the outcome and completes the erasure (views' data fingerprints change with it, so
     * exports and indexes are made anew); `amend` adds a later pass's training sets to a completed one.
     */
    finishErasure: heartbeatingActivity(
      async (input: {
        id: string;
        outcome: Omit<ErasureOutcome, 'modelsTrainedOnKey'>;
        amend?: boolean;
      }): Promise<ErasureOutcome> => {
        const [row] = await db.select().from(erasures).where(eq(erasures.id, input.id));
        const previous = input.amend ? (row.outcome as ErasureOutcome) : undefined;
        const trainingSets = [...(previous?.trainingSets ?? []), ...input.outcome.trainingSets];
        const ids = [...new Set(trainingSets.map((t) => t.id))];
        const trained =
          ids.length === 0
            ? []
            : await db
                .select({
                  model: modelVersions.modelName,
                  version: modelVersions.version,
                  trainingSet: modelVersions.trainingSetId,
                })
                .from(modelVersions)
                .where(inArray(modelVersions.trainingSetId, ids));
        const outcome: ErasureOutcome = {
          ...input.outcome,
          trainingSets,
          modelsTrainedOnKey: [...(previous?.modelsTrainedOnKey ?? []), ...trained].filter(
            (m, i, all) => all.findIndex((o) => o.model === m.model && o.version === m.version) === i,
          ),
        };
        await db
          .update(erasures)
          .set({ outcome, completedAt: row.completedAt ?? sql`now()` })
          .where(eq(erasures.id, input.id));
        // An export written while the views' rows were deleted read them before: gone with the erasure.
        await store.removeExportsKeyedBy(row.entity);
        return outcome;
      },
    ),
  };
}
