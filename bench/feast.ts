/**
 * bench:serve's Feast baseline: Feast (Python, pinned version) in a project-local venv, a local Feast
 * repo holding the rows Kaizen's online store holds for the benchmarked entities, `feast serve`'s
 * command line, and the check that Feast answers what Kaizen answers.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  FEATURE_CODECS,
  featureColumnName,
  parseDuration,
  keyedEntities,
  type EntityKeyValue,
  type FeatureStore,
  type FeatureType,
} from '../feature-store/index.js';
import { log } from './bench-stack.js';

export const FEAST_VERSION = '0.67.0';
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const VENV = path.join(REPO, '.tools', 'feast-venv');
const FEAST = path.join(VENV, 'bin', 'feast');
const LOAD_REPO = path.join(REPO, 'bench', 'feast', 'load_repo.py');

/** Runs a command to completion, its output on this process's stderr (stdout is the benchmark's). */
async function runCommand(command: string, args: string[]): Promise<void> {
  const child = spawn(command, args, { stdio: ['ignore', 2, 2] });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}`);
}

/** The version `feast version` reports, or undefined when the venv has no feast. */
async function installedFeastVersion(): Promise<string | undefined> {
  if (!existsSync(FEAST)) return undefined;
  const { stdout } = await promisify(execFile)(FEAST, ['version']);
  return /"([^"]+)"/.exec(stdout)?.[1]; // Feast SDK Version: "0.67.0" (with ANSI colours)
}

/** Installs Feast into .tools/feast-venv unless it is there at FEAST_VERSION already. */
export async function ensureFeast(): Promise<void> {
  if ((await installedFeastVersion()) === FEAST_VERSION) return;
  log(`installing feast==${FEAST_VERSION} into ${path.relative(REPO, VENV)} (a few minutes)…`);
  await runCommand('python3', ['-m', 'venv', VENV]);
  await runCommand(path.join(VENV, 'bin', 'pip'), [
    'install',
    '--disable-pip-version-check',
    `feast==${FEAST_VERSION}`,
  ]);
  const installed = await installedFeastVersion();
  if (installed !== FEAST_VERSION)
    throw new Error(`feast ${installed} in ${VENV}, expected ${FEAST_VERSION}`);
}

/** What bench/feast/load_repo.py builds the Feast repo from (see its docstring). */
interface FeastRepoSpec {
  project: string;
  entities: Array<{ name: string; joinKey: string }>;
  views: Array<{
    name: string;
    entity: string;
    ttlSeconds: number | null;
    fields: Array<{ name: string; type: FeatureType }>;
    rows: Array<{ key: string; eventTs: string; values: Record<string, string | number | boolean | null> }>;
  }>;
}

/** A view's row as Kaizen stores it for the benchmarked entity, and what Feast is asked for it. */
export interface StoredRow {
  view: string;
  version: number;
  eventTs: string;
  values: Record<string, string | number | boolean | null>;
}

/**
 * Writes a Feast repo into `dir` with the latest version of each of `views` (same entity, features,
 * types and TTL) and Kaizen's online row of `entity` for each, read through the feature store's
 * public API and written with Feast's SDK (`FeatureStore.apply`, `write_to_online_store`).
 * `feastKeys`: each join key's value as Feast spells it (a route `['ORD', 'LGA']` is `'ORD-LGA'`).
 */
export async function writeFeastRepo(
  store: FeatureStore,
  dir: string,
  views: string[],
  entity: Record<string, EntityKeyValue>,
  feastKeys: Record<string, string>,
): Promise<StoredRow[]> {
  const spec: FeastRepoSpec = { project: 'kaizen_bench', entities: [], views: [] };
  const stored: StoredRow[] = [];
  for (const name of views) {
    const view = await store.getView(name);
    const [viewEntity, ...others] = view.definition.entities;
    if (others.length > 0) throw new Error(`${name}: the Feast baseline supports one entity per view`);
    const entities = Object.fromEntries(keyedEntities(view).map((e) => [e.name, [entity[e.joinKey]]]));
    const [row] = await store.readOnline(view, entities, { ignoreTtl: true }); // the stored row, however old
    if (row.status !== 'present')
      throw new Error(`${name}@v${view.version}: no online row for ${JSON.stringify(entity)}`);
    const values = Object.fromEntries(
      view.features.map(({ name: feature, type }) => {
        const value = row.values[feature];
        const codec = FEATURE_CODECS[type];
        return [feature, value === null || value === undefined ? null : codec.toJson(codec.fromPg(value))];
      }),
    );
    const eventTs = row.eventTs!.toISOString();
    stored.push({ view: name, version: view.version, eventTs, values });
    if (!spec.entities.some((e) => e.name === viewEntity.name))
      spec.entities.push({ name: viewEntity.name, joinKey: viewEntity.joinKey });
    spec.views.push({
      name,
      entity: viewEntity.name,
      ttlSeconds: view.definition.ttl ? parseDuration(view.definition.ttl) / 1000 : null,
      fields: view.features,
      rows: [{ key: feastKeys[viewEntity.joinKey], eventTs, values }],
    });
  }
  const specPath = path.join(dir, 'spec.json');
  await mkdir(dir, { recursive: true });
  await writeFile(specPath, JSON.stringify(spec));
  await runCommand(path.join(VENV, 'bin', 'python'), [LOAD_REPO, path.join(dir, 'repo'), specPath]);
  return stored;
}

/**
 * `feast serve` on the repo: one worker process (gunicorn's master only supervises it), no access
 * log, and no worker recycling (Feast's default restarts the worker every ~1,000 requests).
 */
export function feastServeCommand(dir: string, port: number): { command: string; args: string[] } {
  return {
    command: FEAST,
    args: [
      ...['-c', path.join(dir, 'repo'), 'serve', '--host', '127.0.0.1', '--port', String(port)],
      ...['--workers', '1', '--no-access-log', '--max-requests', '0'],
    ],
  };
}

/** Kaizen's features.get answer (tRPC envelope), as far as the check reads it. */
interface KaizenFeatures {
  result: {
    data: {
      results: Array<{
        values: Record<string, unknown>;
        views: Record<string, { version: number; status: string; eventTs: string | null }>;
      }>;
    };
  };
}

/** Feast's /get-online-features answer with full_feature_names: one result per column. */
interface FeastFeatures {
  metadata: { feature_names: string[] };
  results: Array<{ values: unknown[]; statuses: string[]; event_timestamps: string[] }>;
}

/**
 * Throws unless Feast answers, for every requested `view:feature`, the row Kaizen answered: status
 * PRESENT, the event time and view version Kaizen reports, and Kaizen's value. Where Kaizen answers
 * null because the row is older than the view's TTL (status `expired`; the flights data ends in 2001),
 * Feast — which does not apply TTLs to online reads — must answer the value Kaizen stores.
 */
export function checkFeastAnswer(
  refs: string[],
  kaizenText: string,
  feastText: string,
  stored: StoredRow[],
): void {
  const kaizen = (JSON.parse(kaizenText) as KaizenFeatures).result.data.results[0];
  const feast = JSON.parse(feastText) as FeastFeatures;
  const problems: string[] = [];
  for (const ref of refs) {
    const [view, feature] = ref.split(':');
    const column = featureColumnName(view, feature);
    const index = feast.metadata.feature_names.indexOf(column);
    const row = stored.find((s) => s.view === view)!;
    const kaizenView = kaizen.views[view];
    if (index < 0) {
      problems.push(`${ref}: not in Feast's answer`);
      continue;
    }
    const { values, statuses, event_timestamps } = feast.results[index];
    const expected = kaizenView.status === 'expired' ? row.values[feature] : kaizen.values[column];
    if (kaizenView.status !== 'present' && kaizenView.status !== 'expired')
      problems.push(`${ref}: Kaizen answers status ${kaizenView.status}`);
    if (kaizenView.version !== row.version)
      problems.push(`${ref}: Kaizen read v${kaizenView.version}, Feast holds v${row.version}`);
    if (statuses[0] !== 'PRESENT') problems.push(`${ref}: Feast status ${statuses[0]}`);
    if (Date.parse(event_timestamps[0]) !== Date.parse(kaizenView.eventTs ?? ''))
      problems.push(`${ref}: event time ${event_timestamps[0]} in Feast, ${kaizenView.eventTs} in Kaizen`);
    if (values[0] !== expected)
      problems.push(`${ref}: ${String(values[0])} in Feast, ${String(expected)} in Kaizen`);
  }
  if (problems.length > 0)
    throw new Error(`Feast does not serve what Kaizen serves:\n  ${problems.join('\n  ')}`);
}
