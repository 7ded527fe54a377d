/**
 * Activities of the training pipeline: train the built-in model, register a version, evaluate
 * challenger against champion on the same holdout with the promotion gates, and switch aliases.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { and, eq } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { modelVersions } from '../db/schema.js';
import { FAILURE_TYPES } from '../constants.js';
import {
  canonicalJson,
  pinnedFeatureColumns,
  writeFileAtomic,
  type FeatureStore,
  type TrainingSetManifest,
} from '../feature-store/index.js';
import { readLabeledArrow, type LabeledColumns } from '../models/arrow-table.js';
import type { ModelEvaluation } from '../models/evaluation.js';
import { evaluateVersions } from '../models/holdout.js';
import { evaluateGates, parseGateConfig, type GateConfig, type GateOutcome } from '../models/gates.js';
import {
  findAliasedVersion,
  getModelVersion,
  loadModelArtifact,
  registerModelVersion,
  setAlias,
  setModelProfile,
  sha256,
} from '../models/registry.js';
import { exportOnnx } from '../trainers/builtin/onnx-export.js';
import { createOnnxScorer } from '../models/onnx-scorer.js';
import { trainBuiltin, type BuiltinParams } from '../trainers/builtin/train.js';
import { InvalidModelInputError } from '../models/errors.js';
import { profileColumn, scoreProfile, sliceReferences, type ModelProfile } from '../monitoring/profile.js';
import type { MonitorPolicy } from '../monitoring/policy.js';
import { findDefinition } from '../models/definitions.js';
import { artifactPath } from './artifact-paths.js';
import { heartbeatingActivity } from './heartbeat.js';

export interface ModelActivityDeps {
  database: Database;
  store: FeatureStore;
  artifactsDir: string;
}

export interface TrainedArtifact {
  artifactPath: string;
  /** Training-set columns the model reads; registration pins them as `view@vN:feature`. */
  features: string[];
  metrics: Record<string, unknown>;
}

export interface RegisterInput extends TrainedArtifact {
  model: string;
  trainer: string;
  params: Record<string, unknown>;
  trainingSetId: string;
  workflowId: string;
  /** Recorded with the version (training/retraining.ts: pipeline, as-of, trigger, alerts). */
  lineage?: Record<string, unknown>;
}

export interface EvaluateInput {
  model: string;
  challenger: number;
  label: string;
  gates?: Partial<GateConfig>;
  /** Spine or feature columns of the holdout to slice by (fairness gaps). */
  slices?: string[];
}

export interface EvaluationOutcome {
  championVersion: number | null;
  challenger: ModelEvaluation;
  champion?: ModelEvaluation;
  gates: GateOutcome;
}

export interface AliasDecision {
  model: string;
  version: number;
  workflowId: string;
  reason: string;
  details?: Record<string, unknown>;
  /** Promotion only: the champion the challenger was evaluated against (compare-and-set). */
  expectedChampion?: number | null;
}

type SplitName = 'train' | 'validation' | 'test';

function splitFile(manifest: TrainingSetManifest, name: SplitName): string {
  const file = manifest.split?.files[name];
  if (!file) {
    throw ApplicationFailure.nonRetryable(
      `invalid training set ${manifest.id}: it has no time split (build it with --split time:<train_end>,<valid_end>)`,
      FAILURE_TYPES.invalidInput,
    );
  }
  return file.path;
}

async function readSplit(
  manifest: TrainingSetManifest,
  name: SplitName,
  label: string,
): Promise<LabeledColumns> {
  return readLabeledArrow(await readFile(splitFile(manifest, name)), label);
}

/** `view@vN:feature` for each `<view>__<feature>` column of the training set. */
function pinnedFeatures(manifest: TrainingSetManifest, columns: string[]): string[] {
  return columns.map((column) => {
    const f = manifest.features.find((x) => x.column === column);
    return f ? `${f.view}@v${f.version}:${f.feature}` : column;
  });
}

export function createModelActivities(deps: ModelActivityDeps) {
  const db = deps.database.db;
  const { store } = deps;

  return {
    /** Trains the built-in model on the split's train/validation files and writes its ONNX artifact. */
    trainBuiltinModel: heartbeatingActivity(
      async (
        input: { model: string; trainingSetId: string; label: string; params: BuiltinParams },
        report,
        signal,
      ): Promise<TrainedArtifact> => {
        // Before any work: a model name that would write elsewhere fails at once.
        const modelDir = artifactPath(path.join(deps.artifactsDir, 'models'), input.model);
        const manifest = await store.getTrainingSet(input.trainingSetId);
        const [train, valid] = [
          await readSplit(manifest, 'train', input.label),
          await readSplit(manifest, 'validation', input.label),
        ];
        const features = input.params.features ?? manifest.features.map((f) => f.column);
        const result = await trainBuiltin(
          train,
          valid,
          { ...input.params, features },
          (p) => report({ phase: 'train', ...p }),
          signal,
        );
        const bytes = exportOnnx(result.model);
        // Same training set and params → same path; training is deterministic, so a retry rewrites the same bytes.
        const key = createHash('sha256').update(canonicalJson(input.params)).digest('hex').slice(0, 12);
        const file = path.join(modelDir, `${manifest.id}-${key}.onnx`);
        await writeFileAtomic(file, bytes);
        return {
          artifactPath: file,
          features: [...features],
          metrics: { validation: result.metrics, epochs: result.epochs },
        };
      },
    ),

    /**
     * Registers the trained artifact as the model's next version and points `challenger` at it.
     * A retry finds the version it already registered (same artifact hash, same training set).
     */
    registerModel: heartbeatingActivity(async (input: RegisterInput): Promise<{ version: number }> => {
      const digest = sha256(await readFile(input.artifactPath));
      const [existing] = await db
        .select()
        .from(modelVersions)
        .where(
          and(
            eq(modelVersions.modelName, input.model),
            eq(modelVersions.artifactSha256, digest),
            eq(modelVersions.trainingSetId, input.trainingSetId),
          ),
        );
      if (existing) return { version: existing.version };
      const manifest = await store.getTrainingSet(input.trainingSetId);
      const version = await registerModelVersion(db, {
        name: input.model,
        artifactPath: input.artifactPath,
        trainer: input.trainer,
        params: input.params,
        trainingSetId: input.trainingSetId,
        features: pinnedFeatures(manifest, input.features),
        metrics: input.metrics,
        lineage: input.lineage,
      });
      await setAlias(db, {
        model: input.model,
        alias: 'challenger',
        version: version.version,
        actor: input.workflowId,
        reason: `trained by ${input.workflowId}`,
      });
      return { version: version.version };
    }),

    /**
     * The version's reference profile, for the monitor: per input feature of the training split
     * (bins, categories, ranges, null rates) and its scores on the validation split. Idempotent.
     */
    profileModelVersion: heartbeatingActivity(
      async (
        input: { model: string; version: number; label: string },
        report,
      ): Promise<{ features: number }> => {
        const version = await getModelVersion(db, input.model, input.version);
        const columns = pinnedFeatureColumns(version.features as string[]);
        if (version.profile) return { features: columns.length };
        const manifest = await store.getTrainingSet(version.trainingSetId);
        report({ phase: 'profile training data' });
        const train = await readSplit(manifest, 'train', input.label);
        const features: ModelProfile['features'] = {};
        for (const name of columns) {
          const column = train.columns[name];
          if (!column)
            throw new InvalidModelInputError(`model input "${name}" is not a column of the training split`);
          features[name] = profileColumn(column);
        }
        report({ phase: 'score the validation split' });
        const valid = await readSplit(manifest, 'validation', input.label);
        const scorer = await createOnnxScorer(await loadModelArtifact(version));
        let scores: Float64Array;
        try {
          scores = await scorer.score(valid.columns, valid.rows);
        } finally {
          await scorer.release();
        }
        const score = scoreProfile(scores, valid.label);
        // The slices of the model's monitor policy get their validation performance: their reference.
        const policy = await findDefinition<MonitorPolicy>(db, 'monitorPolicy', input.model);
        if (policy && policy.definition.slices.length > 0)
          Object.assign(
            score,
            sliceReferences(
              policy.definition.slices,
              {
                rows: valid.rows,
                columns: valid.columns,
                inputColumns: columns,
                tsColumn: manifest.spine.tsColumn,
                entities: manifest.spine.entities.map((e) => ({ entity: e.entity, columns: e.columns })),
              },
              scores,
              valid.label,
              score.calibration,
            ),
          );
        const profile: ModelProfile = { format: 2, rows: train.rows, features, score };
        await setModelProfile(db, input.model, input.version, profile);
        return { features: columns.length };
      },
    ),

    /** Scores champion (if any) and challenger on the challenger's test split and applies the gates. */
    evaluateChallenger: heartbeatingActivity(
      async (input: EvaluateInput, report): Promise<EvaluationOutcome> => {
        const challenger = await getModelVersion(db, input.model, input.challenger);
        // No champion yet (the first version) means none to beat; any other failure fails the activity.
        const champion = await findAliasedVersion(db, input.model, 'champion');
        const manifest = await store.getTrainingSet(challenger.trainingSetId);
        report({ phase: 'load holdout' });
        const test = await readSplit(manifest, 'test', input.label);
        report({ phase: 'score' });
        const evaluation = await evaluateVersions(
          test,
          champion ? { challenger, champion } : { challenger },
          { slices: input.slices },
        );
        const gates = evaluateGates(
          parseGateConfig(input.gates ?? {}),
          evaluation.challenger,
          evaluation.champion,
        );
        return {
          championVersion: champion?.version ?? null,
          challenger: evaluation.challenger,
          champion: evaluation.champion,
          gates,
        };
      },
    ),

    /** Atomically makes the challenger champion, only if the champion is still the one it beat. */
    promoteChampion: heartbeatingActivity(async (input: AliasDecision) =>
      setAlias(db, {
        model: input.model,
        alias: 'champion',
        version: input.version,
        actor: input.workflowId,
        reason: input.reason,
        details: input.details,
        expectedVersion: input.expectedChampion,
      }),
    ),

    /** Keeps the champion and records why the challenger was not promoted (audit log). */
    recordRejection: heartbeatingActivity(async (input: AliasDecision) =>
      setAlias(db, {
        model: input.model,
        alias: 'challenger',
        version: input.version,
        actor: input.workflowId,
        reason: input.reason,
        details: input.details,
      }),
    ),
  };
}
