/**
 * The model registry: immutable versions with a verified ONNX artifact, and the `champion` /
 * `challenger` aliases whose every change is appended to an audit log in the same transaction.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { and, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { modelAliasAudit, modelAliases, models, modelVersions } from '../db/schema.js';
import {
  AliasConflictError,
  ArtifactIntegrityError,
  InvalidModelInputError,
  ModelNotFoundError,
  NoAliasError,
} from './errors.js';

export const MODEL_ALIASES = ['champion', 'challenger'] as const;
/** NOTIFY channel of alias changes (payload `{ model, alias, version }`), sent on commit. */
export const MODEL_ALIAS_CHANNEL = 'kaizen_model_alias';
export type ModelAlias = (typeof MODEL_ALIASES)[number];

export interface NewModelVersion {
  name: string;
  artifactPath: string;
  trainer: string;
  params: Record<string, unknown>;
  trainingSetId: string;
  /** Pinned features, `view@vN:feature`, in model input order. */
  features: string[];
  metrics: Record<string, unknown>;
  /** Why it was trained (pipeline, as-of time, trigger and alerts); absent for versions trained by hand. */
  lineage?: Record<string, unknown>;
}

export type ModelVersion = typeof modelVersions.$inferSelect;

export interface AliasChange {
  model: string;
  alias: ModelAlias;
  /** The version to point at; null removes the alias. */
  version: number | null;
  /** Who: a user, or the workflow ID that decided. */
  actor: string;
  reason: string;
  details?: Record<string, unknown>;
  /**
   * Compare-and-set: change only if the alias still points at this version (null: unset). A
   * promotion evaluated against one champion must not replace another that won meanwhile.
   */
  expectedVersion?: number | null;
}

const MODEL_NAME = /^[a-z][a-z0-9_-]*$/;

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Registers the next version of a model (created on first use), hashing its artifact. */
export async function registerModelVersion(db: Db, input: NewModelVersion): Promise<ModelVersion> {
  if (!MODEL_NAME.test(input.name))
    throw new InvalidModelInputError(
      `invalid model name "${input.name}": lowercase letters, digits, _ and -`,
    );
  const artifactSha256 = sha256(await readFile(input.artifactPath));
  return db.transaction(async (tx) => {
    const [{ version }] = await tx
      .insert(models)
      .values({ name: input.name, latestVersion: 1 })
      .onConflictDoUpdate({ target: models.name, set: { latestVersion: sql`${models.latestVersion} + 1` } })
      .returning({ version: models.latestVersion });
    const [row] = await tx
      .insert(modelVersions)
      .values({
        modelName: input.name,
        version,
        artifactPath: input.artifactPath,
        artifactSha256,
        trainer: input.trainer,
        params: input.params,
        trainingSetId: input.trainingSetId,
        features: input.features,
        metrics: input.metrics,
        lineage: input.lineage ?? null,
      })
      .returning();
    return row;
  });
}

/** A model's aliased versions and whether it shadows its challenger, in one query; undefined: no such model. */
export async function readAliasedVersions(
  db: Db,
  model: string,
): Promise<{ shadowChallenger: boolean; versions: Partial<Record<ModelAlias, ModelVersion>> } | undefined> {
  const rows = await db
    .select({ shadow: models.shadowChallenger, alias: modelAliases.alias, version: modelVersions })
    .from(models)
    .leftJoin(modelAliases, eq(modelAliases.modelName, models.name))
    .leftJoin(
      modelVersions,
      and(
        eq(modelVersions.modelName, modelAliases.modelName),
        eq(modelVersions.version, modelAliases.version),
      ),
    )
    .where(eq(models.name, model));
  if (rows.length === 0) return undefined;
  const versions: Partial<Record<ModelAlias, ModelVersion>> = {};
  for (const row of rows) if (row.alias && row.version) versions[row.alias as ModelAlias] = row.version;
  return { shadowChallenger: rows[0].shadow, versions };
}

/**
 * The version an alias points at, or undefined when the model has none behind it yet (no champion
 * before the first promotion). An unknown model is a ModelNotFoundError; a database error propagates.
 */
export async function findAliasedVersion(
  db: Db,
  model: string,
  alias: ModelAlias,
): Promise<ModelVersion | undefined> {
  const aliased = await readAliasedVersions(db, model);
  if (!aliased) throw new ModelNotFoundError(`unknown model "${model}"`);
  return aliased.versions[alias];
}

/** A version by number or alias; a missing one is a typed error (ModelNotFoundError, NoAliasError). */
export async function getModelVersion(db: Db, name: string, ref: number | ModelAlias): Promise<ModelVersion> {
  if (typeof ref === 'string') {
    const aliased = await findAliasedVersion(db, name, ref);
    if (!aliased) throw new NoAliasError(`model "${name}" has no ${ref}`);
    return aliased;
  }
  const [row] = await db
    .select()
    .from(modelVersions)
    .where(and(eq(modelVersions.modelName, name), eq(modelVersions.version, ref)));
  if (!row) throw new ModelNotFoundError(`unknown model version ${name}@v${ref}`);
  return row;
}

/**
 * The artifact's bytes, refused unless they hash to what was registered (tampering, truncation).
 * Read in one synchronous call (hashing is synchronous anyway): an async read takes several event-loop
 * turns, each one long on a busy server, and a model swap waits for them.
 */
export async function loadModelArtifact(version: ModelVersion): Promise<Uint8Array> {
  const bytes = readFileSync(version.artifactPath);
  const actual = sha256(bytes);
  if (actual !== version.artifactSha256) {
    throw new ArtifactIntegrityError(
      `refusing model ${version.modelName}@v${version.version}: artifact ${version.artifactPath} has sha256 ${actual}, registered ${version.artifactSha256}`,
    );
  }
  return bytes;
}

/**
 * Points an alias at a version (or removes it) and appends the audit entry, atomically. Changes to
 * one model's aliases are serialized by a row lock on the model, so concurrent promotions apply one
 * after the other and an alias always names exactly one version.
 */
export async function setAlias(
  db: Db,
  change: AliasChange,
): Promise<{ from: number | null; to: number | null }> {
  return db.transaction(async (tx) => {
    const locked = await tx.select().from(models).where(eq(models.name, change.model)).for('update');
    if (locked.length === 0) throw new ModelNotFoundError(`unknown model "${change.model}"`);
    const [current] = await tx
      .select()
      .from(modelAliases)
      .where(and(eq(modelAliases.modelName, change.model), eq(modelAliases.alias, change.alias)));
    const from = current?.version ?? null;
    // A compare-and-set that finds its own outcome in place already happened (a retried activity
    // whose first attempt committed): done, and audited once.
    if (change.expectedVersion !== undefined && from === change.version && from !== change.expectedVersion)
      return { from: change.expectedVersion, to: change.version };
    if (change.expectedVersion !== undefined && change.expectedVersion !== from) {
      throw new AliasConflictError(
        `alias ${change.model}:${change.alias} changed meanwhile: it is v${from ?? 'none'}, expected v${change.expectedVersion ?? 'none'}`,
      );
    }
    if (change.version === null) {
      await tx
        .delete(modelAliases)
        .where(and(eq(modelAliases.modelName, change.model), eq(modelAliases.alias, change.alias)));
    } else {
      await getModelVersion(tx as unknown as Db, change.model, change.version);
      await tx
        .insert(modelAliases)
        .values({ modelName: change.model, alias: change.alias, version: change.version })
        .onConflictDoUpdate({
          target: [modelAliases.modelName, modelAliases.alias],
          set: { version: change.version, updatedAt: sql`now()` },
        });
    }
    await tx.insert(modelAliasAudit).values({
      modelName: change.model,
      alias: change.alias,
      fromVersion: from,
      toVersion: change.version,
      actor: change.actor,
      reason: change.reason,
      details: change.details ?? null,
    });
    // Delivered only when the transaction commits: servers never load an alias that was rolled back.
    await tx.execute(
      sql`SELECT pg_notify(${MODEL_ALIAS_CHANNEL}, ${JSON.stringify({ model: change.model, alias: change.alias, version: change.version })})`,
    );
    return { from, to: change.version };
  });
}

/** Stores a version's reference profile (the monitor's baseline); a version has one, written once. */
export async function setModelProfile(
  db: Db,
  model: string,
  version: number,
  profile: unknown,
): Promise<void> {
  await db
    .update(modelVersions)
    .set({ profile })
    .where(and(eq(modelVersions.modelName, model), eq(modelVersions.version, version)));
}

/** The alias changes of a model, newest first. */
export function aliasHistory(db: Db, model: string) {
  return db
    .select()
    .from(modelAliasAudit)
    .where(eq(modelAliasAudit.modelName, model))
    .orderBy(desc(modelAliasAudit.id));
}

/** Points the champion back at the version it replaced last (recorded like any change). */
export async function rollbackChampion(db: Db, model: string, actor: string, reason: string) {
  const [last] = await db
    .select()
    .from(modelAliasAudit)
    .where(and(eq(modelAliasAudit.modelName, model), eq(modelAliasAudit.alias, 'champion')))
    .orderBy(desc(modelAliasAudit.id))
    .limit(1);
  if (!last?.fromVersion) throw new NoAliasError(`model "${model}" has no previous champion to roll back to`);
  return setAlias(db, {
    model,
    alias: 'champion',
    version: last.fromVersion,
    actor,
    reason,
    expectedVersion: last.toVersion,
    details: { rollbackOf: last.id },
  });
}

/**
 * Turns shadow scoring of the challenger on or off (servers score it off the request path and log
 * both scores); audited and notified like an alias change.
 */
export async function setShadow(db: Db, model: string, enabled: boolean, actor: string, reason: string) {
  await db.transaction(async (tx) => {
    const updated = await tx
      .update(models)
      .set({ shadowChallenger: enabled })
      .where(eq(models.name, model))
      .returning();
    if (updated.length === 0) throw new ModelNotFoundError(`unknown model "${model}"`);
    await tx.insert(modelAliasAudit).values({
      modelName: model,
      alias: 'challenger',
      actor,
      reason,
      details: { shadow: enabled },
    });
    await tx.execute(
      sql`SELECT pg_notify(${MODEL_ALIAS_CHANNEL}, ${JSON.stringify({ model, alias: 'challenger', shadow: enabled })})`,
    );
  });
}
