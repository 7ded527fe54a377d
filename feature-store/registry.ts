import { and, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { entities, featureViews, featureViewVersions, onDemandViewVersions } from '../db/schema.js';
import { applyOnDemandViews } from './on-demand-registry.js';
import type { OnDemandViewDefinition } from './on-demand-view.js';
import { diffDefinitions, fingerprint, versionedPart } from './fingerprint.js';
import { createStoreTablesSql, storeTableNames, type StoreTables } from './store-tables.js';
import type { EntityDefinition, FeatureField, FeatureViewDefinition } from './types.js';
import { featureFields } from './view-schema.js';

/** One immutable, registered version of a feature view: `name@vN`. */
export interface ViewVersion {
  name: string;
  version: number;
  fingerprint: string;
  definition: FeatureViewDefinition;
  features: FeatureField[];
  tables: StoreTables;
}

export type ApplyStatus = 'created' | 'unchanged' | 'new-version';

export interface ApplyResult {
  kind: 'entity' | 'featureView' | 'onDemandView';
  name: string;
  status: ApplyStatus;
  version?: number;
  /** For a new version: what changed against the previous one. */
  diff: string[];
}

/**
 * Registers definitions, like `feast apply`: an unchanged view is a no-op, a changed schema, source,
 * transformation or TTL creates version N+1 with its own store tables, and older versions stay
 * readable. Runs in one transaction (DDL included), serialized against concurrent applies.
 */
export async function applyDefinitions(
  db: Db,
  defs: {
    entities: EntityDefinition[];
    views: FeatureViewDefinition[];
    onDemandViews?: OnDemandViewDefinition[];
    /** The module exporting the on-demand views: servers and workers import them from there. */
    module?: string;
  },
): Promise<ApplyResult[]> {
  const onDemandViews = defs.onDemandViews ?? [];
  if (onDemandViews.length > 0 && !defs.module)
    throw new Error('applying on-demand views needs the module that exports them');
  const allEntities = new Map(defs.entities.map((e) => [e.name, e]));
  for (const view of defs.views) for (const e of view.entities) allEntities.set(e.name, e);
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext('kaizen.registry.apply'))`);
    const results: ApplyResult[] = [];
    for (const entity of allEntities.values()) results.push(await applyEntity(tx as unknown as Db, entity));
    for (const view of defs.views) results.push(await applyView(tx as unknown as Db, view));
    if (onDemandViews.length > 0) {
      results.push(...(await applyOnDemandViews(tx as unknown as Db, onDemandViews, defs.module!)));
    }
    return results;
  });
}

async function applyEntity(db: Db, entity: EntityDefinition): Promise<ApplyResult> {
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

async function applyView(db: Db, view: FeatureViewDefinition): Promise<ApplyResult> {
  // Names are shared by stored and on-demand views: a ref must mean one thing on every path.
  const [clash] = await db
    .select({ name: onDemandViewVersions.viewName })
    .from(onDemandViewVersions)
    .where(eq(onDemandViewVersions.viewName, view.name))
    .limit(1);
  if (clash) throw new Error(`feature view "${view.name}": an on-demand view already has that name`);
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
    throw new Error(
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
  };
}

/** Parses `name` or `name@vN`. */
export function parseViewRef(ref: string): { name: string; version?: number } {
  const match = /^([a-z][a-z0-9_]*)(?:@v(\d+))?$/.exec(ref);
  if (!match) throw new Error(`invalid feature view reference "${ref}": expected <view> or <view>@v<N>`);
  return { name: match[1], version: match[2] === undefined ? undefined : Number(match[2]) };
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
