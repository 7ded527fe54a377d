/**
 * Activities of continuous training: plan a run of a model's registered training pipeline as of a
 * time (its spine built from the label source), record how retraining runs start and end, decide how
 * to answer monitor alerts (re-promote an earlier version, retrain, or wait out the cooldown), and
 * evaluate earlier versions against the champion on an alerting window.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { and, desc, eq, getTableColumns, gt, inArray, isNotNull, isNull, lte, ne, sql } from 'drizzle-orm';
import { msToNumber, type Duration } from '@temporalio/common';
import type { Database, Db } from '../db/client.js';
import { modelVersions, monitorAlerts, retrainings, trainingSets } from '../db/schema.js';
import {
  InvalidInputError,
  isFeatureRef,
  parseDuration,
  parseFeatureRefs,
  pinnedFeatureColumns,
  type FeatureStore,
  type TrainingSetRequest,
} from '../feature-store/index.js';
import { readLabeledArrow } from '../models/arrow-table.js';
import { getDefinition, findDefinition } from '../models/definitions.js';
import type { ModelEvaluation } from '../models/evaluation.js';
import { evaluateGates, parseGateConfig, type GateOutcome } from '../models/gates.js';
import { evaluateVersions } from '../models/holdout.js';
import { RunInFlightError } from '../models/errors.js';
import { findAliasedVersion, getModelVersion } from '../models/registry.js';
import { getLabelSource } from '../monitoring/registry.js';
import {
  DEFAULT_RETRAINING,
  parseTrainingPipeline,
  pipelineFeatures,
  splitAsOf,
  type TrainingPipelineDefinition,
} from '../training/pipeline.js';
import { writeLabelSpine } from '../training/spine.js';
import type { TrainingPipelineInput } from '../training/pipeline-input.js';
import { heartbeatingActivity } from './heartbeat.js';

/** A transaction of `Db` (what `db.transaction` hands its callback). */
type DbTransaction = Parameters<Parameters<Db['transaction']>[0]>[0];

export type RetrainingTrigger = 'schedule' | 'alert' | 'manual';

export interface RetrainingPlan {
  pipelineVersion: number;
  /** The training pipeline's input, spine and split fixed by the as-of time. */
  input: TrainingPipelineInput;
  spineRows: number;
  /** Events of the range whose labels were not known yet, and source rows that cannot be labels. */
  notYetKnown: number;
  unusable: number;
}

export interface AlertResponsePlan {
  /** Try earlier versions on the alerting window first (recurring drift, or the champion decays). */
  repromote: boolean;
  /** Retrain (the registered pipeline) unless a re-promotion already answered. */
  retrain: boolean;
  /**
   * Whether the alerts are answered — by this response, or by a retraining in flight or within the
   * cooldown — and so marked as acted on; alerts nothing answers stay open for an operator.
   */
  answered: boolean;
  /** The champion's alerts of kinds the pipeline retrains on: a retraining's lineage names them. */
  triggers: number[];
  reasons: string[];
  window: { startMs: number; endMs: number };
}

export interface RepromotionCandidate {
  version: number;
  evaluation: ModelEvaluation;
  gates: GateOutcome;
}

export interface RepromotionOutcome {
  champion: number | null;
  championEvaluation?: ModelEvaluation;
  candidates: RepromotionCandidate[];
  /** The best earlier version that passed the gates against the champion, if any. */
  winner?: RepromotionCandidate;
}

/** Earlier versions evaluated against the champion on an alerting window, newest first. */
const REPROMOTION_CANDIDATES = 5;
/**
 * A run not finished this long after it started (plus its pipeline's approval wait) is taken as dead:
 * its workflow was terminated before it could record its end.
 */
const IN_FLIGHT_LIMIT_MS = 6 * 3_600_000;

const iso = (ms: number) => new Date(ms).toISOString();

export function createRetrainingActivities(deps: {
  database: Database;
  store: FeatureStore;
  artifactsDir: string;
}) {
  const { db, pool } = deps.database;
  const { store } = deps;
  const dataRoot = store.dataRoot;
  const pipelineOf = async (model: string) => {
    const stored = await getDefinition<TrainingPipelineDefinition>(db, 'trainingPipeline', model);
    return { version: stored.version, definition: parseTrainingPipeline(stored.definition) };
  };
  const labelSource = (name: string) => getLabelSource(db, name);

  /** How long a run of the model may be unfinished before it is taken as dead. */
  const inFlightLimitMs = (pipeline: TrainingPipelineDefinition | undefined) =>
    IN_FLIGHT_LIMIT_MS + (pipeline?.approval ? msToNumber(pipeline.approval as Duration) : 0);

  /** The model's other unfinished run, if one is alive. */
  async function runInFlight(tx: Db | DbTransaction, model: string, limitMs: number, except?: string) {
    const [other] = await tx
      .select()
      .from(retrainings)
      .where(
        and(
          eq(retrainings.modelName, model),
          isNull(retrainings.finishedAt),
          gt(retrainings.startedAt, sql`now() - ${`${limitMs} milliseconds`}::interval`),
          ...(except ? [ne(retrainings.workflowId, except)] : []),
        ),
      )
      .limit(1);
    return other;
  }

  /**
   * Records the start of a run of a model — a retraining or a re-promotion attempt — unless another is
   * in flight (at most one at a time, decided under a lock per model). A run started again under its
   * ID (after a failure: IDs are reused only then) starts its row afresh; a retried call changes nothing.
   */
  async function recordRunStart(
    run: {
      workflowId: string;
      model: string;
      trigger: RetrainingTrigger;
      asOfMs: number;
      alertIds?: number[];
    },
    limitMs: number,
  ): Promise<void> {
    await db.transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${`retrainings:${run.model}`}))`);
      const other = await runInFlight(tx, run.model, limitMs, run.workflowId);
      if (other)
        throw new RunInFlightError(
          `${other.workflowId} (as of ${iso(other.asOf.getTime())}) is in flight: one run of ${run.model} at a time`,
        );
      const values = {
        modelName: run.model,
        trigger: run.trigger,
        asOf: new Date(run.asOfMs),
        alertIds: run.alertIds ?? null,
      };
      await tx
        .insert(retrainings)
        .values({ workflowId: run.workflowId, ...values })
        .onConflictDoUpdate({
          target: retrainings.workflowId,
          set: {
            ...values,
            startedAt: sql`now()`,
            finishedAt: null,
            outcome: null,
            version: null,
            details: null,
          },
          where: isNotNull(retrainings.finishedAt),
        });
    });
  }

  return {
    /**
     * The registered pipeline as of `asOfMs`: its spine written from the label source (events of the
     * split's range whose label was known by then), the split in absolute times; the run recorded.
     */
    planRetraining: heartbeatingActivity(
      async (
        input: {
          model: string;
          asOfMs: number;
          trigger: RetrainingTrigger;
          alertIds?: number[];
          workflowId: string;
        },
        report,
      ): Promise<RetrainingPlan> => {
        if (!Number.isFinite(input.asOfMs))
          throw new InvalidInputError(`invalid as-of time ${input.asOfMs}: expected epoch ms`);
        const pipeline = await pipelineOf(input.model);
        const def = pipeline.definition;
        await recordRunStart(input, inFlightLimitMs(def));
        const source = await labelSource(def.labels);
        const split = splitAsOf(def, input.asOfMs);
        const stamp = iso(input.asOfMs).replace(/[:.]/g, '-');
        report({ phase: 'spine', from: iso(split.startMs), asOf: iso(input.asOfMs) });
        const spine = await writeLabelSpine(
          { pool, dataRoot },
          source,
          { startMs: split.startMs, endMs: split.endMs },
          input.asOfMs,
          path.join(deps.artifactsDir, 'spines', input.model, `${stamp}.arrow`),
          [split.trainEndMs, split.validEndMs],
        );
        if (spine.rows === 0)
          throw new InvalidInputError(
            `no labelled events of ${def.labels} between ${iso(split.startMs)} and ${iso(split.endMs)} known by ${iso(input.asOfMs)}: nothing to train ${input.model} on`,
          );
        const empty = (['train', 'validation', 'test'] as const).filter((_, k) => spine.splitRows[k] === 0);
        if (empty.length > 0)
          throw new InvalidInputError(
            `no labelled events of ${def.labels} in the ${empty.join(' and ')} split of ${input.model} as of ${iso(input.asOfMs)} (train ${iso(split.startMs)}.., validation ${iso(split.trainEndMs)}.., test ${iso(split.validEndMs)}..${iso(split.endMs)})`,
          );
        const trainingSet: TrainingSetRequest = {
          spine: spine.spine,
          features: pipelineFeatures(def),
          split: { trainEndMs: split.trainEndMs, validEndMs: split.validEndMs },
          out: path.join(deps.artifactsDir, 'training-sets', input.model, `${stamp}.arrow`),
        };
        return {
          pipelineVersion: pipeline.version,
          spineRows: spine.rows,
          notYetKnown: spine.notYetKnown,
          unusable: spine.unusable,
          input: {
            model: input.model,
            trainingSet,
            label: spine.spine.labelColumn!,
            trainer: def.trainer as TrainingPipelineInput['trainer'],
            gates: def.gates,
            slices: def.slices,
            approvalTimeout: def.approval,
            lineage: {
              pipeline: `${input.model}@v${pipeline.version}`,
              asOf: iso(input.asOfMs),
              trigger: input.trigger,
              workflowId: input.workflowId,
              alerts: await alertSummaries(input.alertIds ?? []),
            },
          },
        };
      },
    ),

    /** Records how a retraining run ended (once: a retried call finds it recorded). */
    finishRetraining: heartbeatingActivity(
      async (input: {
        workflowId: string;
        outcome: string;
        version?: number;
        details?: Record<string, unknown>;
      }) => {
        await db
          .update(retrainings)
          .set({
            finishedAt: sql`now()`,
            outcome: input.outcome,
            version: input.version ?? null,
            details: input.details ?? null,
          })
          .where(and(eq(retrainings.workflowId, input.workflowId), isNull(retrainings.finishedAt)));
      },
    ),

    /**
     * How to answer a window's alerts: re-promote when drift is recurring or performance decays (and
     * the pipeline allows it), retrain when the pipeline retrains on these kinds, no retraining is in
     * flight and the last one started before the cooldown.
     */
    planAlertResponse: heartbeatingActivity(
      async (input: { model: string; alertIds: number[]; asOfMs: number }): Promise<AlertResponsePlan> => {
        const raised = await db.select().from(monitorAlerts).where(inArray(monitorAlerts.id, input.alertIds));
        if (raised.length === 0)
          throw new InvalidInputError(`no monitor alerts ${input.alertIds.join(', ')}`);
        // Alerts of several windows (a scheduled run judges two): a re-promotion is tried on the latest.
        const latest = raised.reduce((a, b) => (b.windowEnd > a.windowEnd ? b : a));
        const window = { startMs: latest.windowStart.getTime(), endMs: latest.windowEnd.getTime() };
        const stored = await findDefinition<TrainingPipelineDefinition>(db, 'trainingPipeline', input.model);
        const reasons: string[] = [];
        const nothing = (reason: string) => {
          reasons.push(reason);
          return { repromote: false, retrain: false, answered: false, triggers: [], reasons, window };
        };
        if (!stored)
          return nothing(
            `${input.model} has no training pipeline: alerts are recorded, nothing is retrained`,
          );
        // A window may hold the rows of a version replaced since: its verdicts are history, not the champion's.
        const champion = await findAliasedVersion(db, input.model, 'champion');
        const alerts = raised.filter((a) => a.version === champion?.version);
        if (alerts.length === 0)
          return nothing(
            `the alerts concern v${[...new Set(raised.map((a) => a.version))].join(', v')}, not the champion` +
              `${champion ? ` v${champion.version}` : ''}: recorded, nothing is retrained`,
          );
        const retraining = { ...DEFAULT_RETRAINING, ...parseTrainingPipeline(stored.definition).retraining };
        const recurring = alerts.some((a) => a.driftType === 'recurring');
        const decays = alerts.some((a) => a.kind === 'performance' || a.kind === 'estimated_performance');
        const triggers = alerts.filter((a) => (retraining.on as readonly string[]).includes(a.kind));
        const repromote = retraining.repromote && (recurring || decays);
        if (!repromote && triggers.length === 0)
          return nothing(`no alert of a kind that retrains (${retraining.on.join(', ')})`);
        // Answered already: by a run in flight, or by one (retraining or re-promotion) within the cooldown.
        const inFlight = await runInFlight(db, input.model, inFlightLimitMs(stored.definition));
        const [last] = await db
          .select()
          .from(retrainings)
          .where(and(eq(retrainings.modelName, input.model), lte(retrainings.asOf, new Date(input.asOfMs))))
          .orderBy(desc(retrainings.asOf))
          .limit(1);
        const answered = { repromote: false, retrain: false, answered: true, triggers: [], reasons, window };
        if (inFlight) {
          reasons.push(`${inFlight.workflowId} is in flight`);
          return answered;
        }
        if (last && input.asOfMs - last.asOf.getTime() < parseDuration(retraining.cooldown)) {
          reasons.push(
            `cooldown: ${last.workflowId} (${last.outcome}) was as of ${iso(last.asOf.getTime())}, within ${retraining.cooldown}`,
          );
          return answered;
        }
        if (repromote)
          reasons.push(recurring ? 'recurring drift: an earlier version may fit' : 'the champion decays');
        if (triggers.length > 0)
          reasons.push(`alerts: ${triggers.map((a) => `${a.kind} ${a.subject || '(all)'}`).join(', ')}`);
        else reasons.push(`no alert of a kind that retrains (${retraining.on.join(', ')})`);
        // A re-promotion alone answers the alerts only if it brings a version back (the workflow decides).
        return {
          repromote,
          retrain: triggers.length > 0,
          answered: triggers.length > 0,
          triggers: triggers.map((a) => a.id),
          reasons,
          window,
        };
      },
    ),

    /** Marks alerts as acted on by a workflow (an alert already consumed keeps its first consumer). */
    consumeAlerts: heartbeatingActivity(async (input: { alertIds: number[]; workflowId: string }) => {
      await db
        .update(monitorAlerts)
        .set({ consumedBy: input.workflowId, consumedAt: sql`now()` })
        .where(and(inArray(monitorAlerts.id, input.alertIds), isNull(monitorAlerts.consumedBy)));
    }),

    /**
     * The holdout of a re-promotion: the window's labelled events (known by `asOfMs`) with the
     * features every candidate and the champion read; null when there is nothing to compare.
     */
    planRepromotion: heartbeatingActivity(
      async (input: {
        model: string;
        startMs: number;
        endMs: number;
        asOfMs: number;
        /** Recorded as an alert-triggered run (retrainings): it counts toward the cooldown. */
        workflowId: string;
      }) => {
        const champion = await findAliasedVersion(db, input.model, 'champion');
        const pipeline = await pipelineOf(input.model);
        // Only versions that knew an earlier world: their data ended by the response's time (a replay of
        // the past may find versions trained since), and they neither trained nor validated on the window.
        const versions = await db
          .select(getTableColumns(modelVersions))
          .from(modelVersions)
          .innerJoin(trainingSets, eq(trainingSets.id, modelVersions.trainingSetId))
          .where(
            and(
              eq(modelVersions.modelName, input.model),
              sql`(${trainingSets.manifest} -> 'timeRange' ->> 'end')::timestamptz <= ${new Date(input.asOfMs)}`,
              sql`(${trainingSets.manifest} -> 'split' ->> 'validEndMs')::float8 <= ${input.startMs}`,
            ),
          )
          .orderBy(desc(modelVersions.version));
        const candidates = versions
          .filter((v) => v.version !== champion?.version)
          .slice(0, REPROMOTION_CANDIDATES);
        // Features are compared by column: versions reading one column from different view versions cannot share a holdout.
        const refs = new Map<string, string>();
        for (const v of [...candidates, ...(champion ? [champion] : [])])
          for (const f of v.features as string[]) refs.set(pinnedFeatureColumns([f])[0], f);
        const usable = candidates.filter((v) =>
          (v.features as string[]).every((f) => refs.get(pinnedFeatureColumns([f])[0]) === f),
        );
        if (!champion || usable.length === 0) return null;
        const source = await labelSource(pipeline.definition.labels);
        const stamp = `${iso(input.startMs)}-${iso(input.endMs)}`.replace(/[:.]/g, '-');
        const spine = await writeLabelSpine(
          { pool, dataRoot },
          source,
          input,
          input.asOfMs,
          path.join(deps.artifactsDir, 'spines', input.model, `window-${stamp}.arrow`),
        );
        if (spine.rows === 0) return null;
        await recordRunStart({ ...input, trigger: 'alert' }, inFlightLimitMs(pipeline.definition));
        const request: TrainingSetRequest = {
          spine: spine.spine,
          features: [...refs.values()].filter(isFeatureRef).flatMap((f) => parseFeatureRefs(f)),
          out: path.join(deps.artifactsDir, 'training-sets', input.model, `window-${stamp}.arrow`),
        };
        return {
          request,
          label: spine.spine.labelColumn!,
          champion: champion.version,
          candidates: usable.map((v) => v.version),
          slices: pipeline.definition.slices ?? [],
          gates: pipeline.definition.gates ?? {},
          minGain: pipeline.definition.retraining?.minGain ?? DEFAULT_RETRAINING.minGain,
        };
      },
    ),

    /** Champion and earlier versions on the window's holdout, each earlier one through the pipeline's gates. */
    evaluateEarlierVersions: heartbeatingActivity(
      async (
        input: {
          model: string;
          trainingSetId: string;
          label: string;
          champion: number;
          candidates: number[];
          slices: string[];
          gates: Record<string, unknown>;
          minGain: number;
        },
        report,
      ): Promise<RepromotionOutcome> => {
        const manifest = await store.getTrainingSet(input.trainingSetId);
        const holdout = readLabeledArrow(await readFile(manifest.path), input.label);
        report({ phase: 'score', rows: holdout.rows });
        const versions = Object.fromEntries(
          await Promise.all(
            [input.champion, ...input.candidates].map(
              async (v) => [`v${v}`, await getModelVersion(db, input.model, v)] as const,
            ),
          ),
        );
        // Robustness decides no gate: skipped, it would double the scoring.
        const evaluation = await evaluateVersions(holdout, versions, {
          slices: input.slices,
          robustness: false,
        });
        const config = parseGateConfig(input.gates);
        const championEvaluation = evaluation[`v${input.champion}`];
        const candidates = input.candidates.map((version) => ({
          version,
          evaluation: evaluation[`v${version}`],
          gates: evaluateGates(config, evaluation[`v${version}`], championEvaluation),
        }));
        // Only a version better than the champion is worth a switch, not one merely within the allowed drop.
        const winner = candidates
          .filter(
            (c) =>
              c.gates.passed && c.evaluation.overall.auc >= championEvaluation.overall.auc + input.minGain,
          )
          .sort((a, b) => b.evaluation.overall.auc - a.evaluation.overall.auc)[0];
        return { champion: input.champion, championEvaluation, candidates, winner };
      },
    ),
  };

  /** What a version's lineage says of the alerts that started its training. */
  async function alertSummaries(ids: number[]) {
    if (ids.length === 0) return [];
    const rows = await db.select().from(monitorAlerts).where(inArray(monitorAlerts.id, ids));
    return rows.map((a) => ({
      id: a.id,
      kind: a.kind,
      subject: a.subject,
      driftType: a.driftType,
      window: `${iso(a.windowStart.getTime())} .. ${iso(a.windowEnd.getTime())}`,
      message: a.message,
    }));
  }
}
