/**
 * Registry of on-demand views. A version records the view's schema and the content hash of its code
 * bundle (registry/code-bundles.ts); whoever runs the view imports that bundle, so a model pinned to
 * a version computes exactly what it was trained on, whatever the live code says now.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { and, desc, eq } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { onDemandViewVersions } from '../../db/schema.js';
import { canonicalJson, diffDefinitions } from '../definitions/fingerprint.js';
import { onDemandFeatureFields, type OnDemandViewDefinition } from '../definitions/on-demand-view.js';
import {
  bundleExport,
  importBundle,
  PACKAGE_ROOT,
  runBundle,
  saveBundle,
  type CodeBundle,
} from './code-bundles.js';
import type { ApplyResult, OnDemandVersion } from './types.js';
import { InvalidInputError } from '../definitions/errors.js';

/**
 * `module` as recorded (for operators only: the bundle is what runs): relative to the repository
 * when inside it, so a checkout elsewhere reads the same.
 */
function recordedModulePath(module: string): string {
  const relative = path.relative(PACKAGE_ROOT, path.resolve(module));
  return relative.startsWith('..') || path.isAbsolute(relative) ? path.resolve(module) : relative;
}

/** An on-demand view ready to register: its definition and the bundle of the code that computes it. */
export interface BundledOnDemandView {
  view: OnDemandViewDefinition;
  module: string;
  bundle: CodeBundle;
}

/** What a version is: request fields, inputs, output schema and the code's hash (also shown in diffs). */
function versionedPart(view: OnDemandViewDefinition, bundle: string) {
  return {
    request: view.request,
    featureInputs: view.featureInputs ?? [],
    features: view.features,
    code: bundle,
  };
}

const isOnDemandView = (value: unknown, name: string): value is OnDemandViewDefinition =>
  !!value &&
  typeof value === 'object' &&
  (value as { kind?: unknown }).kind === 'onDemandView' &&
  (value as { name?: unknown }).name === name;

/**
 * Bundles the code of each view from the module that exports it (`exports`: that module's exports,
 * as the caller imported them) and checks that the bundle computes the same view.
 */
export async function bundleOnDemandViews(
  views: OnDemandViewDefinition[],
  module: string,
  exports: Record<string, unknown>,
): Promise<BundledOnDemandView[]> {
  return Promise.all(
    views.map(async (view) => {
      const exportName = Object.keys(exports).find((key) => exports[key] === view);
      if (!exportName) throw new Error(`on-demand view "${view.name}" is not exported by ${module}`);
      const bundle = await bundleExport(module, exportName);
      if (!isOnDemandView(await runBundle(bundle.code), view.name))
        throw new Error(`on-demand view "${view.name}": its bundled code does not export the view`);
      return { view, module, bundle };
    }),
  );
}

/** Registers one bundled view: unchanged → no-op, changed (schema or code) → version N+1. */
export async function applyOnDemandView(db: Db, bundled: BundledOnDemandView): Promise<ApplyResult> {
  const { view, bundle } = bundled;
  const part = versionedPart(view, bundle.sha256);
  const print = createHash('sha256').update(canonicalJson(part)).digest('hex');
  const [latest] = await db
    .select()
    .from(onDemandViewVersions)
    .where(eq(onDemandViewVersions.viewName, view.name))
    .orderBy(desc(onDemandViewVersions.version))
    .limit(1);
  if (latest?.fingerprint === print)
    return { kind: 'onDemandView', name: view.name, status: 'unchanged', version: latest.version, diff: [] };
  const version = (latest?.version ?? 0) + 1;
  await saveBundle(db, bundle);
  await db.insert(onDemandViewVersions).values({
    viewName: view.name,
    version,
    fingerprint: print,
    definition: { name: view.name, description: view.description ?? null, ...part },
    module: recordedModulePath(bundled.module),
    bundleSha256: bundle.sha256,
  });
  let diff: string[] = [];
  if (latest) {
    const {
      name: _name,
      description: _description,
      ...previous
    } = latest.definition as Record<string, unknown>;
    diff = diffDefinitions(previous, part);
  }
  return { kind: 'onDemandView', name: view.name, status: latest ? 'new-version' : 'created', version, diff };
}

/**
 * The registered version of an on-demand view (latest when `version` is omitted) with its pinned
 * code loaded, or undefined when no on-demand view has that name.
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
    if (any) throw new InvalidInputError(`unknown version ${name}@v${version}`);
    return undefined;
  }
  const id = `${name}@v${row.version}`;
  if (!row.bundleSha256)
    throw new Error(
      `on-demand view ${id} was registered before code bundles existed; apply it again (a new version) and retrain models pinned to it`,
    );
  const definition = await importBundle(db, row.bundleSha256).catch((error: Error) => {
    throw new Error(`on-demand view ${id}: cannot load its pinned code: ${error.message}`);
  });
  if (!isOnDemandView(definition, name))
    throw new Error(`on-demand view ${id}: its pinned code does not export the view`);
  return {
    name,
    version: row.version,
    fingerprint: row.fingerprint,
    definition,
    features: onDemandFeatureFields(definition),
  };
}
