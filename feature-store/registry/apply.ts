/**
 * `kaizen apply`: registers definitions like `feast apply`. Unchanged definitions are no-ops; a
 * changed schema, source, transformation, TTL or (on-demand) code creates version N+1, and older
 * versions stay readable. On-demand code is bundled first; the registry writes then run in one
 * transaction (DDL included), serialized against concurrent applies.
 */
import { pathToFileURL } from 'node:url';
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { featureViews, onDemandViewVersions } from '../../db/schema.js';
import type { OnDemandViewDefinition } from '../definitions/on-demand-view.js';
import type { EntityDefinition, FeatureViewDefinition } from '../definitions/types.js';
import { applyOnDemandView, bundleOnDemandViews } from './on-demand.js';
import type { ApplyResult } from './types.js';
import { applyEntity, applyView } from './views.js';

export interface Definitions {
  entities: EntityDefinition[];
  views: FeatureViewDefinition[];
  onDemandViews?: OnDemandViewDefinition[];
  /** The module (absolute path) exporting the on-demand views: their code is bundled from it. */
  module?: string;
}

export async function applyDefinitions(db: Db, defs: Definitions): Promise<ApplyResult[]> {
  const onDemandViews = defs.onDemandViews ?? [];
  let bundled: Awaited<ReturnType<typeof bundleOnDemandViews>> = [];
  if (onDemandViews.length > 0) {
    if (!defs.module) throw new Error('applying on-demand views needs the module that exports them');
    const exports = (await import(pathToFileURL(defs.module).href)) as Record<string, unknown>;
    bundled = await bundleOnDemandViews(onDemandViews, defs.module, exports);
  }
  const allEntities = new Map(defs.entities.map((e) => [e.name, e]));
  for (const view of defs.views) for (const e of view.entities) allEntities.set(e.name, e);
  return db.transaction(async (tx) => {
    const registry = tx as unknown as Db;
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext('kaizen.registry.apply'))`);
    const results: ApplyResult[] = [];
    for (const entity of allEntities.values()) results.push(await applyEntity(registry, entity));
    for (const view of defs.views) {
      await assertNameFree(registry, view.name, 'featureView');
      results.push(await applyView(registry, view));
    }
    for (const view of bundled) {
      await assertNameFree(registry, view.view.name, 'onDemandView');
      results.push(await applyOnDemandView(registry, view));
    }
    return results;
  });
}

/** Stored and on-demand views share one namespace: a ref must mean one thing on every path. */
async function assertNameFree(db: Db, name: string, kind: 'featureView' | 'onDemandView'): Promise<void> {
  const [clash] =
    kind === 'featureView'
      ? await db
          .select({ name: onDemandViewVersions.viewName })
          .from(onDemandViewVersions)
          .where(eq(onDemandViewVersions.viewName, name))
          .limit(1)
      : await db
          .select({ name: featureViews.name })
          .from(featureViews)
          .where(eq(featureViews.name, name))
          .limit(1);
  if (clash) {
    const [self, other] =
      kind === 'featureView' ? ['feature view', 'an on-demand view'] : ['on-demand view', 'a feature view'];
    throw new Error(`${self} "${name}": ${other} already has that name`);
  }
}
