/** Read-only views of the model registry, shared by the CLI and the `models.*` procedures. */
import { asc, eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { modelAliases, models, modelVersions } from '../db/schema.js';
import type { ModelProfile } from '../monitoring/profile.js';
import { aliasHistory } from './registry.js';
import { ModelNotFoundError } from './errors.js';

export interface ModelSummary {
  name: string;
  latestVersion: number;
  champion: number | null;
  challenger: number | null;
}

/** A version's lineage as retraining records it (training/retraining activities). */
export interface VersionLineage {
  pipeline: string;
  asOf: string;
  trigger: string;
  workflowId: string;
  alerts: Array<{
    id: number;
    kind: string;
    subject: string;
    driftType: string | null;
    window: string;
    message: string;
  }>;
}

export interface ModelDetails {
  name: string;
  latestVersion: number;
  /** Whether servers also score the challenger (off the request path). */
  shadowChallenger: boolean;
  versions: {
    version: number;
    trainer: string;
    trainingSetId: string;
    /** Pinned features, `view@vN:feature`, in model input order. */
    features: string[];
    createdAt: Date;
    validationAuc: number | undefined;
    /** Reference profile of its training data and validation scores (null: not profiled). */
    profile: ModelProfile | null;
    /** Why it was trained: pipeline, as-of time, trigger and alerts (null: trained by hand). */
    lineage: VersionLineage | null;
  }[];
  aliases: { alias: string; version: number; updatedAt: Date }[];
  /** The latest alias changes, newest first. */
  audit: {
    at: Date;
    alias: string;
    fromVersion: number | null;
    toVersion: number | null;
    actor: string;
    reason: string;
  }[];
}

/** Alias changes included in a model's details. */
export const AUDIT_ENTRIES = 10;

/** The validation AUC recorded by the trainer (`metrics.validation.auc`), if any. */
function validationAuc(metrics: unknown): number | undefined {
  const validation = (metrics as { validation?: { auc?: unknown } } | null)?.validation;
  return typeof validation?.auc === 'number' ? validation.auc : undefined;
}

export async function listModels(db: Db): Promise<ModelSummary[]> {
  const rows = await db.select().from(models).orderBy(asc(models.name));
  const aliases = await db.select().from(modelAliases);
  const alias = (name: string, which: string) =>
    aliases.find((a) => a.modelName === name && a.alias === which)?.version ?? null;
  return rows.map((m) => ({
    name: m.name,
    latestVersion: m.latestVersion,
    champion: alias(m.name, 'champion'),
    challenger: alias(m.name, 'challenger'),
  }));
}

export async function describeModel(db: Db, name: string): Promise<ModelDetails> {
  const [model] = await db.select().from(models).where(eq(models.name, name));
  if (!model) throw new ModelNotFoundError(`unknown model "${name}"`);
  const versions = await db
    .select()
    .from(modelVersions)
    .where(eq(modelVersions.modelName, name))
    .orderBy(asc(modelVersions.version));
  const aliases = await db
    .select()
    .from(modelAliases)
    .where(eq(modelAliases.modelName, name))
    .orderBy(asc(modelAliases.alias));
  const audit = await aliasHistory(db, name).limit(AUDIT_ENTRIES);
  return {
    name,
    latestVersion: model.latestVersion,
    shadowChallenger: model.shadowChallenger,
    versions: versions.map((row) => ({
      version: row.version,
      trainer: row.trainer,
      trainingSetId: row.trainingSetId,
      features: row.features as string[],
      createdAt: row.createdAt,
      validationAuc: validationAuc(row.metrics),
      profile: (row.profile as ModelProfile | null) ?? null,
      lineage: (row.lineage as VersionLineage | null) ?? null,
    })),
    aliases: aliases.map((a) => ({ alias: a.alias, version: a.version, updatedAt: a.updatedAt })),
    audit: audit.map((e) => ({
      at: e.at,
      alias: e.alias,
      fromVersion: e.fromVersion,
      toVersion: e.toVersion,
      actor: e.actor,
      reason: e.reason,
    })),
  };
}
