/**
 * Registry of on-demand views. A version records the definition's fingerprint and the module that
 * exports it; whoever runs the view (a training-set build, a server) imports that module and refuses
 * to run code whose fingerprint differs from the pinned version.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { and, desc, eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { featureViews, onDemandViewVersions } from '../db/schema.js';
import type { FeatureRef } from './feature-refs.js';
import { diffDefinitions } from './fingerprint.js';
import {
  onDemandFeatureFields,
  onDemandFingerprint,
  onDemandVersionedPart,
  type OnDemandViewDefinition,
} from './on-demand-view.js';
import type { ApplyResult } from './registry.js';
import type { FeatureField } from './types.js';

/** One registered version, with the code that computes it loaded and checked. */
export interface OnDemandVersion {
  name: string;
  version: number;
  fingerprint: string;
  definition: OnDemandViewDefinition;
  features: FeatureField[];
}

/** Where relative module paths start: the project root, so a checkout elsewhere still finds them. */
const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `module` as stored: relative to the project root when inside it, else absolute. */
function storedModulePath(module: string): string {
  const relative = path.relative(PROJECT_ROOT, path.resolve(module));
  return relative.startsWith('..') || path.isAbsolute(relative) ? path.resolve(module) : relative;
}

/** Registers on-demand views exported by `module`; unchanged ones are no-ops, changed ones version N+1. */
export async function applyOnDemandViews(
  db: Db,
  views: OnDemandViewDefinition[],
  module: string,
): Promise<ApplyResult[]> {
  const results: ApplyResult[] = [];
  for (const view of views) {
    const [clash] = await db.select().from(featureViews).where(eq(featureViews.name, view.name));
    if (clash) throw new Error(`on-demand view "${view.name}": a feature view already has that name`);
    const print = onDemandFingerprint(view);
    const [latest] = await db
      .select()
      .from(onDemandViewVersions)
      .where(eq(onDemandViewVersions.viewName, view.name))
      .orderBy(desc(onDemandViewVersions.version))
      .limit(1);
    if (latest?.fingerprint === print) {
      results.push({
        kind: 'onDemandView',
        name: view.name,
        status: 'unchanged',
        version: latest.version,
        diff: [],
      });
      continue;
    }
    const version = (latest?.version ?? 0) + 1;
    const definition = {
      name: view.name,
      description: view.description ?? null,
      ...onDemandVersionedPart(view),
    };
    await db.insert(onDemandViewVersions).values({
      viewName: view.name,
      version,
      fingerprint: print,
      definition,
      module: storedModulePath(module),
    });
    const diff = latest ? diffDefinitions(latest.definition, definition) : [];
    results.push({
      kind: 'onDemandView',
      name: view.name,
      status: latest ? 'new-version' : 'created',
      version,
      diff,
    });
  }
  return results;
}

const loadedModules = new Map<string, Promise<Record<string, unknown>>>();

function importModule(file: string): Promise<Record<string, unknown>> {
  let mod = loadedModules.get(file);
  if (!mod) loadedModules.set(file, (mod = import(pathToFileURL(file).href)));
  return mod;
}

/**
 * The registered version of an on-demand view (latest when `version` is omitted) with its code, or
 * undefined when no on-demand view has that name. Throws when the code is gone or has changed.
 */
export async function findOnDemandVersion(
  db: Db,
  name: string,
  version: number | undefined,
): Promise<OnDemandVersion | undefined> {
  const where =
    version === undefined
      ? eq(onDemandViewVersions.viewName, name)
      : and(eq(onDemandViewVersions.viewName, name), eq(onDemandViewVersions.version, version));
  const [row] = await db
    .select()
    .from(onDemandViewVersions)
    .where(where)
    .orderBy(desc(onDemandViewVersions.version))
    .limit(1);
  if (!row) {
    if (version === undefined) return undefined;
    const [any] = await db.select().from(onDemandViewVersions).where(eq(onDemandViewVersions.viewName, name));
    if (any) throw new Error(`unknown version ${name}@v${version}`);
    return undefined;
  }
  const file = path.resolve(PROJECT_ROOT, row.module);
  const exported = Object.values(await importModule(file)).find(
    (v): v is OnDemandViewDefinition =>
      !!v &&
      typeof v === 'object' &&
      (v as { kind?: unknown }).kind === 'onDemandView' &&
      (v as { name?: unknown }).name === name,
  );
  if (!exported) throw new Error(`on-demand view ${name}@v${row.version}: ${file} no longer exports it`);
  if (onDemandFingerprint(exported) !== row.fingerprint) {
    throw new Error(
      `on-demand view ${name}@v${row.version}: the code in ${file} differs from the registered version; run kaizen apply (a model pinned to v${row.version} needs that code)`,
    );
  }
  return {
    name,
    version: row.version,
    fingerprint: row.fingerprint,
    definition: exported,
    features: onDemandFeatureFields(exported),
  };
}

/** Requested features of one on-demand view version. */
export interface ResolvedOnDemand {
  view: OnDemandVersion;
  features: FeatureField[];
}

/**
 * Separates refs to on-demand views (resolved, code loaded and verified) from refs to stored feature
 * views (left for resolveFeatureRefs). Every path that takes feature refs goes through here.
 */
export async function splitOnDemandRefs(
  db: Db,
  refs: FeatureRef[],
): Promise<{ stored: FeatureRef[]; onDemand: ResolvedOnDemand[] }> {
  const stored: FeatureRef[] = [];
  // One lookup per view version; null: not an on-demand view.
  const groups = new Map<string, ResolvedOnDemand | null>();
  for (const ref of refs) {
    const key = `${ref.view}@${ref.version ?? 'latest'}`;
    let group = groups.get(key);
    if (group === undefined) {
      const view = await findOnDemandVersion(db, ref.view, ref.version);
      groups.set(key, (group = view ? { view, features: [] } : null));
    }
    if (group === null) {
      stored.push(ref);
      continue;
    }
    const field = group.view.features.find((f) => f.name === ref.feature);
    if (!field) {
      throw new Error(
        `unknown feature "${ref.feature}" in on-demand view ${ref.view}@v${group.view.version}; available: ${group.view.features.map((f) => f.name).join(', ')}`,
      );
    }
    if (group.features.includes(field))
      throw new Error(`invalid request: feature ${ref.view}:${ref.feature} requested twice`);
    group.features.push(field);
  }
  return { stored, onDemand: [...groups.values()].filter((group) => group !== null) };
}

/** Checks that the feature inputs of on-demand views are among the stored features requested. */
export function assertOnDemandInputs(onDemand: ResolvedOnDemand[], storedColumns: Set<string>): void {
  for (const { view } of onDemand) {
    const missing = (view.definition.featureInputs ?? []).filter((c) => !storedColumns.has(c));
    if (missing.length > 0) {
      throw new Error(
        `invalid request: on-demand view ${view.name}@v${view.version} reads ${missing.join(', ')}; request ${missing.length > 1 ? 'them' : 'it'} too`,
      );
    }
  }
}
