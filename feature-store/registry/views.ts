/** Registered entities and feature-view versions: apply (new version on change) and look-ups. */
import { and, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { entities, featureViews, featureViewVersions } from '../../db/schema.js';
import { CURRENT_KEY_ENCODING, type KeyEncoding } from '../definitions/entity-keys.js';
import { diffDefinitions, fingerprint, versionedPart } from '../definitions/fingerprint.js';
import type { EntityDefinition, FeatureField, FeatureViewDefinition } from '../definitions/types.js';
import { featureFields } from '../definitions/view-schema.js';
import { createStoreTablesSql, storeTableNames } from './store-tables.js';
import type { ApplyResult, ViewVersion } from './types.js';
import { InvalidInputError } from '../definitions/errors.js';

export async function applyEntity(db: Db, entity: EntityDefinition): Promise<ApplyResult> {
  const [existing] = await db.select().from(entities).where(eq(entities.name, entity.name));
  if (!existing) {
    await db
      .insert(entities)
      .values({ name: entity.name, joinKey: entity.joinKey, description: entity.description });
    return { kind: 'entity', name: entity.name, status: 'created', diff: [] };
  }
  if (existing.joinKey !== entity.joinKey) {
    throw new Error(
      `entity "${entity.name}" already exists with join key "${existing.joinKey}"; changing it to "${entity.joinKey}" would break every view keyed by it — define a new entity instead`,
    );
  }
  return { kind: 'entity', name: entity.name, status: 'unchanged', diff: [] };
}

/** Registers a view: unchanged → no-op; changed → version N+1 with its own store tables (DDL in `db`'s transaction). */
export async function applyView(db: Db, view: FeatureViewDefinition): Promise<ApplyResult> {
  const print = fingerprint(view);
  const [latest] = await db
    .select()
    .from(featureViewVersions)
    .where(eq(featureViewVersions.viewName, view.name))
    .orderBy(desc(featureViewVersions.version))
    .limit(1);
  if (latest && latest.fingerprint === print) {
    return { kind: 'featureView', name: view.name, status: 'unchanged', version: latest.version, diff: [] };
  }
  const version = (latest?.version ?? 0) + 1;
  const fields = featureFields(view);
  const tables = storeTableNames(view.name, version);
  for (const ddl of createStoreTablesSql(tables, fields)) await db.execute(sql.raw(ddl));
  if (latest) {
    await db
      .update(featureViews)
      .set({ latestVersion: version, updatedAt: new Date() })
      .where(eq(featureViews.name, view.name));
  } else {
    await db.insert(featureViews).values({ name: view.name, latestVersion: version });
  }
  await db.insert(featureViewVersions).values({
    viewName: view.name,
    version,
    fingerprint: print,
    definition: view,
    features: fields,
    offlineTable: tables.offline,
    onlineTable: tables.online,
    keyEncoding: CURRENT_KEY_ENCODING,
  });
  const diff = latest
    ? diffDefinitions(versionedPart(latest.definition as FeatureViewDefinition), versionedPart(view))
    : [];
  return { kind: 'featureView', name: view.name, status: latest ? 'new-version' : 'created', version, diff };
}

/** A registered version; the latest when `version` is omitted. Unknown names/versions are clear errors. */
export async function getViewVersion(db: Db, name: string, version?: number): Promise<ViewVersion> {
  const view = await findViewVersion(db, name, version);
  if (!view) {
    throw new InvalidInputError(
      version === undefined
        ? `unknown feature view "${name}": run kaizen apply first`
        : `unknown version ${name}@v${version}`,
    );
  }
  return view;
}

/** A registered version (the latest when `version` is omitted), or undefined when there is none. */
export async function findViewVersion(
  db: Db,
  name: string,
  version?: number,
): Promise<ViewVersion | undefined> {
  const where =
    version === undefined
      ? eq(featureViewVersions.viewName, name)
      : and(eq(featureViewVersions.viewName, name), eq(featureViewVersions.version, version));
  const [row] = await db
    .select()
    .from(featureViewVersions)
    .where(where)
    .orderBy(desc(featureViewVersions.version))
    .limit(1);
  if (!row) return undefined;
  return {
    name: row.viewName,
    version: row.version,
    fingerprint: row.fingerprint,
    definition: row.definition as FeatureViewDefinition,
    features: row.features as FeatureField[],
    tables: { offline: row.offlineTable, online: row.onlineTable },
    keyEncoding: row.keyEncoding as KeyEncoding,
  };
}

export async function listViewVersions(
  db: Db,
): Promise<Array<{ name: string; version: number; createdAt: Date }>> {
  return db
    .select({
      name: featureViewVersions.viewName,
      version: featureViewVersions.version,
      createdAt: featureViewVersions.createdAt,
    })
    .from(featureViewVersions)
    .orderBy(featureViewVersions.viewName, featureViewVersions.version);
}
