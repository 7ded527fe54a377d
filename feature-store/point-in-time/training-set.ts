import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { tableFromIPC, Table, Uint32, makeData, makeVector, type Vector } from 'apache-arrow';
import { eq } from 'drizzle-orm';
import type pg from 'pg';
import type { Db } from '../../db/client.js';
import { trainingSets } from '../../db/schema.js';
import { rawColumnToVector } from '../columns/arrow-columns.js';
import { columnToVector, emptyColumn } from '../columns/codecs.js';
import { arrowFileChunks, writeArrowFileAtomic, writeFileAtomic } from '../offline/atomic-file.js';
import { featureColumnName, type FeatureRef } from '../refs/feature-ref.js';
import { keyedEntities } from '../refs/request-keys.js';
import { resolveFeatureRefs } from '../refs/resolve.js';
import type { ViewResolver } from '../registry/resolver.js';
import type { SourceData } from '../sources/source-data.js';
import { canonicalJson } from '../definitions/fingerprint.js';
import { exportOffline, featureRowsFromArrow } from '../offline/export.js';
import { asOfMatchCodes, buildPointInTimeIndex, gatherColumn, type PointInTimeIndex } from './join.js';
import type { ViewVersion } from '../registry/types.js';
import { decodeVector } from '../sources/columnar.js';
import { appendEntityKey, type KeyEncoding } from '../definitions/entity-keys.js';
import { computeOnDemandForSpine, planOnDemand, type PlannedOnDemand } from './on-demand-spine.js';
import { allRows, openSpine, sha256File, spineKeys, type SpineKeys, type SpineSpec } from './spine.js';
import type { Column, FeatureField, FeatureType } from '../definitions/types.js';
import { InvalidInputError } from '../definitions/errors.js';

export interface TimeSplit {
  /** train: ts < trainEnd; validation: trainEnd <= ts < validEnd; test: ts >= validEnd. */
  trainEndMs: number;
  validEndMs: number;
}

export interface TrainingSetRequest {
  spine: SpineSpec;
  features: FeatureRef[];
  split?: TimeSplit;
  /** Output Arrow IPC file. */
  out: string;
  shards?: number;
}

export interface PlannedView {
  name: string;
  version: number;
  keyEncoding: KeyEncoding;
  ttlMs?: number;
  entities: string[];
  features: FeatureField[];
  exportPath: string;
  dataHash: string;
}

export interface TrainingSetPlan {
  id: string;
  dir: string;
  out: string;
  shards: number;
  spine: SpineSpec & {
    path: string;
    sha256: string;
    rows: number;
    startMs: number;
    endMs: number;
    nullKeyRows: number;
  };
  split?: TimeSplit;
  views: PlannedView[];
  onDemand: PlannedOnDemand[];
}

export interface TrainingSetManifest {
  id: string;
  createdAt: string;
  path: string;
  rowCount: number;
  contentHash: string;
  spine: TrainingSetPlan['spine'];
  features: Array<{
    view: string;
    version: number;
    feature: string;
    column: string;
    type: FeatureType;
    onDemand?: true;
  }>;
  views: Array<{ name: string; version: number; ttl: string | null; onDemand?: true }>;
  timeRange: { start: string; end: string };
  shards: number;
  parts: string[];
  split?: TimeSplit & { files: Record<'train' | 'validation' | 'test', { path: string; rows: number }> };
  /** Spine rows whose entity key is null or empty: kept, with null features. */
  nullKeyRows: number;
}

export interface TrainingSetDeps {
  db: Db;
  resolver: ViewResolver;
  pool: pg.Pool;
  dataRoot: string;
  artifactsDir: string;
}

/**
 * Validates a request and pins everything it depends on: view versions (latest when omitted),
 * the spine's hash, and an export of each view's offline rows (reused while the ledger is unchanged).
 */
export async function planTrainingSet(
  deps: TrainingSetDeps,
  request: TrainingSetRequest,
): Promise<TrainingSetPlan> {
  // A relative path would mean whatever directory this worker runs in: callers resolve it (the CLI against its working directory).
  if (!path.isAbsolute(request.spine.path))
    throw new InvalidInputError(`invalid spine path "${request.spine.path}": expected an absolute path`);
  const spinePath = request.spine.path;
  const spec = { ...request.spine, path: spinePath };
  const data = await openSpine(spec, deps.dataRoot);
  let badTs = 0;
  let firstBad = -1;
  let startMs = Infinity;
  let endMs = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const ts = data.eventTs[i];
    if (Number.isNaN(ts)) {
      if (badTs++ === 0) firstBad = i;
    } else {
      if (ts < startMs) startMs = ts;
      if (ts > endMs) endMs = ts;
    }
  }
  if (badTs > 0) {
    throw new InvalidInputError(
      `invalid spine ${spinePath}: ${badTs} rows have a missing or unparseable timestamp in column "${spec.tsColumn}" (first at row ${firstBad})`,
    );
  }
  if (request.spine.labelColumn) data.column(request.spine.labelColumn);
  // Whether a key is null does not depend on how it is spelled.
  const keysByEntity = new Map(spec.entities.map((e) => [e.entity, spineKeys(data, e.columns, 'joined')]));
  let nullKeyRows = 0;
  for (let i = 0; i < data.length; i++) {
    for (const keys of keysByEntity.values()) {
      if (keys.codes[i] < 0) {
        nullKeyRows++;
        break;
      }
    }
  }

  const { views: resolved, onDemand } = await resolveFeatureRefs(
    deps,
    request.features,
    (entity) => keysByEntity.has(entity),
    (entity) => `use --entity <column>=${entity}`,
  );

  for (const { view } of resolved) assertSpineKeyColumns(spec, view);
  const plannedOnDemand = planOnDemand(data, spec, onDemand);
  const views: PlannedView[] = [];
  for (const { view, features, entities, ttlMs, dataHash } of resolved) {
    const exportPath = path.join(
      deps.artifactsDir,
      'exports',
      `${view.name}@v${view.version}-${dataHash}.arrow`,
    );
    if (!existsSync(exportPath)) await exportOffline(deps.pool, view, exportPath);
    views.push({
      name: view.name,
      version: view.version,
      keyEncoding: view.keyEncoding,
      ttlMs,
      entities,
      features,
      exportPath,
      dataHash,
    });
  }

  const sha256 = await sha256File(spinePath);
  // The id names the built artifact: same inputs and output path → same id (shards never change content).
  const identity = {
    out: path.resolve(request.out),
    spine: sha256,
    entities: spec.entities,
    ts: spec.tsColumn,
    label: spec.labelColumn ?? null,
    features: views.map((v) => ({
      view: `${v.name}@v${v.version}`,
      features: v.features.map((f) => f.name),
    })),
    data: views.map((v) => `${v.name}@v${v.version}:${v.dataHash}`),
    onDemand: plannedOnDemand,
    split: request.split ?? null,
  };
  const id = `ts_${createHash('sha256').update(canonicalJson(identity)).digest('hex').slice(0, 16)}`;
  return {
    id,
    dir: path.join(deps.artifactsDir, 'training-sets', id),
    out: path.resolve(request.out),
    shards: Math.max(1, request.shards ?? 1),
    spine: { ...spec, sha256, rows: data.length, startMs, endMs, nullKeyRows },
    split: request.split,
    views,
    onDemand: plannedOnDemand,
  };
}

/**
 * The spine gives each entity of a view as many key columns as the view's entity has (route:
 * origin, destination). One column holding joined text (`SFO-LAX`) matches only versions written
 * with the legacy `joined` key encoding; for the others it would silently match nothing.
 */
function assertSpineKeyColumns(spine: SpineSpec, view: ViewVersion): void {
  for (const entity of keyedEntities(view)) {
    const columns = spine.entities.find((e) => e.entity === entity.name)!.columns;
    if (columns.length === entity.columns || (view.keyEncoding === 'joined' && columns.length === 1))
      continue;
    throw new InvalidInputError(
      `invalid spine entity "${entity.name}" for ${view.name}@v${view.version}: its key has ${entity.columns} part(s), the spine gives ${columns.length} column(s) (${columns.join(', ')}); map one spine column per part, e.g. --entity ${Array.from({ length: entity.columns }, (_, i) => `col${i + 1}`).join(',')}=${entity.name}`,
    );
  }
}

/** FNV-1a: a stable hash of an entity key, for sharding. */
function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const indexCache = new Map<string, Promise<{ index: PointInTimeIndex; columns: Record<string, Column> }>>();

/** Point-in-time index of an exported view, built once per worker process and reused by every shard. */
function loadIndex(exportPath: string, registryView: ViewVersion) {
  let entry = indexCache.get(exportPath);
  if (!entry) {
    entry = Promise.resolve().then(() => {
      const rows = featureRowsFromArrow(registryView, tableFromIPC(readFileSync(exportPath)));
      return { index: buildPointInTimeIndex(rows), columns: rows.columns };
    });
    indexCache.set(exportPath, entry);
    if (indexCache.size > 8) indexCache.delete(indexCache.keys().next().value!);
  }
  return entry;
}

/** A planned view's registered version: through the resolver, which keeps pinned versions for good. */
async function pinnedView(resolver: ViewResolver, view: PlannedView): Promise<ViewVersion> {
  const registered = await resolver.resolve(view.name, view.version);
  if (registered?.kind !== 'stored')
    throw new InvalidInputError(`unknown version ${view.name}@v${view.version}`);
  return registered.view;
}

/** Keys of a view for the spine: its entities' spine keys in view order, spelled as the view stores them. */
function viewKeys(view: PlannedView, data: SourceData, spine: SpineSpec): SpineKeys {
  return view.entities
    .map((entity) =>
      spineKeys(data, spine.entities.find((e) => e.entity === entity)!.columns, view.keyEncoding),
    )
    .reduce(appendEntityKey);
}

const SPINE_CHUNK_ROWS = 500_000;

/** The spine rows of `shard`, by hash of the first entity's key. */
function rowsOfShard(data: SourceData, plan: TrainingSetPlan, shard: number): Uint32Array {
  // Any fixed spelling shards consistently; the parts are reassembled in spine order anyway.
  const shardKeys = spineKeys(data, plan.spine.entities[0].columns, 'joined');
  const shardOfCode = Int32Array.from(shardKeys.dictionary, (k) => hashKey(k) % plan.shards);
  const rows: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const code = shardKeys.codes[i];
    if ((code < 0 ? 0 : shardOfCode[code]) === shard) rows.push(i);
  }
  return Uint32Array.from(rows);
}

/**
 * Joins the spine rows of one shard (by hash of the first entity's key) against every requested view
 * and writes a part file: `__row` (spine position) plus one column per feature.
 */
export async function joinTrainingSetShard(
  deps: TrainingSetDeps,
  plan: TrainingSetPlan,
  shard: number,
  onProgress?: (rowsDone: number) => void,
): Promise<{ path: string; rows: number }> {
  const data = await openSpine(plan.spine, deps.dataRoot);
  const shardRows = plan.shards === 1 ? allRows(data.length) : rowsOfShard(data, plan, shard);
  const vectors: Record<string, Vector> = {
    __row: makeVector(makeData({ type: new Uint32(), length: shardRows.length, data: shardRows })),
  };
  let dictionaryId = 0;
  for (const [name, column] of await joinFeatures(deps, plan, data, shardRows, onProgress))
    vectors[name] = columnToVector(column, { dictionaryId: dictionaryId++ });
  const partPath = path.join(
    plan.dir,
    `part-${String(shard).padStart(4, '0')}-of-${String(plan.shards).padStart(4, '0')}.arrow`,
  );
  await writeArrowFileAtomic(partPath, new Table(vectors));
  return { path: partPath, rows: shardRows.length };
}

/** The feature columns (`<view>__<feature>`, in plan order) of the spine's `rows`, matched as of each row. */
async function joinFeatures(
  deps: TrainingSetDeps,
  plan: TrainingSetPlan,
  data: SourceData,
  rows: Uint32Array,
  onProgress?: (rowsDone: number) => void,
): Promise<Map<string, Column>> {
  const features = new Map<string, Column>();
  for (const view of plan.views) {
    const registryView = await pinnedView(deps.resolver, view);
    const { index, columns } = await loadIndex(view.exportPath, registryView);
    const keys = viewKeys(view, data, plan.spine);
    const matches = new Int32Array(rows.length);
    // The spine is matched in bounded chunks: only keys and times of one chunk are materialized at once.
    for (let from = 0; from < rows.length; from += SPINE_CHUNK_ROWS) {
      const to = Math.min(rows.length, from + SPINE_CHUNK_ROWS);
      const chunkCodes = new Int32Array(to - from);
      const chunkTs = new Float64Array(to - from);
      for (let j = from; j < to; j++) {
        chunkCodes[j - from] = keys.codes[rows[j]];
        chunkTs[j - from] = data.eventTs[rows[j]];
      }
      matches.set(asOfMatchCodes(index, keys.dictionary, chunkCodes, chunkTs, view.ttlMs), from);
      onProgress?.(to);
    }
    for (const field of view.features)
      features.set(featureColumnName(view.name, field.name), gatherColumn(columns[field.name], matches));
  }
  return features;
}

/**
 * A one-shard build in one step, for one activity: plan, join every spine row in memory, then
 * consolidate as finalizeTrainingSet does — no part file written and read back. The same training set
 * (bytes, id, manifest) as plan → joinTrainingSetShard → finalizeTrainingSet with one shard, but for
 * the manifest's `parts`: none. Idempotent per id, as they are.
 */
export async function buildTrainingSetInOne(
  deps: TrainingSetDeps,
  request: TrainingSetRequest,
  onProgress?: (progress: { phase: 'join' | 'finalize'; rows?: number }) => void,
): Promise<TrainingSetManifest> {
  const plan = await planTrainingSet(deps, { ...request, shards: 1 });
  const existing = await recordedManifest(deps, plan);
  if (existing) return existing;
  const data = await openSpine(plan.spine, deps.dataRoot);
  const features = await joinFeatures(deps, plan, data, allRows(data.length), (rows) =>
    onProgress?.({ phase: 'join', rows }),
  );
  onProgress?.({ phase: 'finalize' });
  return writeTrainingSet(deps, plan, data, features, []);
}

/** Reads the parts back into full-length feature columns in spine order. */
function assembleFeatures(plan: TrainingSetPlan, parts: string[]): Map<string, Column> {
  const n = plan.spine.rows;
  const out = new Map<string, Column>();
  for (const view of plan.views) {
    for (const f of view.features) out.set(featureColumnName(view.name, f.name), emptyColumn(f.type, n));
  }
  for (const part of parts) {
    const table = tableFromIPC(readFileSync(part));
    const rowIndex = table.getChild('__row')!.toArray() as Uint32Array;
    const first = consecutiveFrom(rowIndex);
    for (const [name, column] of out) {
      const raw = decodeVector(table.getChild(name)!, rowIndex.length);
      if (first !== undefined && raw.kind !== 'string') {
        // One run of spine rows (a single shard's are all of them): copied whole, nulls zeroed as unset slots are.
        const values = column.values as Float64Array | Uint8Array;
        values.set(raw.values, first);
        column.valid.set(raw.valid, first);
        for (let j = 0; j < rowIndex.length; j++) if (!raw.valid[j]) values[first + j] = 0;
        continue;
      }
      for (let j = 0; j < rowIndex.length; j++) {
        const i = rowIndex[j];
        if (raw.kind === 'string') {
          if (raw.codes[j] < 0) continue;
          (column.values as (string | null)[])[i] = raw.dictionary[raw.codes[j]];
        } else {
          if (!raw.valid[j]) continue;
          column.values[i] = raw.values[j];
        }
        column.valid[i] = 1;
      }
    }
  }
  return out;
}

/** The first of `rows` (ascending positions, each once) when they are one run of consecutive positions, else undefined. */
function consecutiveFrom(rows: ArrayLike<number>): number | undefined {
  const first = rows[0] ?? 0;
  // Ascending, each once (a shard's rows, a split's): one run exactly when the last is `first + n - 1`.
  return rows.length === 0 || rows[rows.length - 1] - first === rows.length - 1 ? first : undefined;
}

/**
 * The training set's `rows` (ascending positions) as a table: a slice of the whole table when they are
 * one run of consecutive rows (a split of a spine in time order), else gathered anew by `build`.
 */
function rowsOf(full: Table, rows: number[], build: (rows: Uint32Array) => Table): Table {
  const first = consecutiveFrom(rows);
  return first === undefined ? build(Uint32Array.from(rows)) : full.slice(first, first + rows.length);
}

/** A manifest's entry for a feature of a view version (stored or on demand). */
function manifestFeature(view: { name: string; version: number }, onDemand: boolean) {
  return (f: FeatureField): TrainingSetManifest['features'][number] => ({
    view: view.name,
    version: view.version,
    feature: f.name,
    column: featureColumnName(view.name, f.name),
    type: f.type,
    ...(onDemand ? { onDemand: true as const } : {}),
  });
}

/**
 * Consolidates the parts into one Arrow file in spine order (spine columns first, as given, then
 * `<view>__<feature>`), writes the time splits, and records the manifest. Idempotent per id.
 */
export async function finalizeTrainingSet(
  deps: TrainingSetDeps,
  plan: TrainingSetPlan,
  parts: string[],
): Promise<TrainingSetManifest> {
  const existing = await recordedManifest(deps, plan);
  if (existing) return existing;
  const data = await openSpine(plan.spine, deps.dataRoot);
  return writeTrainingSet(deps, plan, data, assembleFeatures(plan, parts), parts);
}

/** The manifest already recorded under the plan's id, while its file exists. */
async function recordedManifest(
  deps: TrainingSetDeps,
  plan: TrainingSetPlan,
): Promise<TrainingSetManifest | undefined> {
  const [existing] = await deps.db.select().from(trainingSets).where(eq(trainingSets.id, plan.id));
  return existing && existsSync(existing.path) ? (existing.manifest as TrainingSetManifest) : undefined;
}

/**
 * Writes the training set of the spine `data` and its feature columns in spine order (on-demand ones
 * are added here), its splits and manifest, and records the manifest.
 */
async function writeTrainingSet(
  deps: TrainingSetDeps,
  plan: TrainingSetPlan,
  data: SourceData,
  features: Map<string, Column>,
  parts: string[],
): Promise<TrainingSetManifest> {
  await computeOnDemandForSpine(deps, data, plan.spine, plan.onDemand, features);
  const table = (rows?: Uint32Array) => {
    // Dictionary ids are per-table and deterministic so identical inputs give identical bytes.
    let dictionaryId = 0;
    const vectors: Record<string, Vector> = {};
    for (const name of data.columnNames)
      vectors[name] = rawColumnToVector(data.column(name), data.length, {
        dictionaryId: dictionaryId++,
        rows,
        label: name,
      });
    for (const [name, column] of features)
      vectors[name] = columnToVector(column, { dictionaryId: dictionaryId++, rows, label: name });
    return new Table(vectors);
  };
  const full = table();
  const chunks = await arrowFileChunks(full);
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  const contentHash = hash.digest('hex');
  const files: Array<{ path: string; chunks: Uint8Array[] }> = [{ path: plan.out, chunks }];

  let split: TrainingSetManifest['split'];
  if (plan.split) {
    const { trainEndMs, validEndMs } = plan.split;
    const buckets = { train: [] as number[], validation: [] as number[], test: [] as number[] };
    for (let i = 0; i < data.length; i++) {
      const ts = data.eventTs[i];
      (ts < trainEndMs ? buckets.train : ts < validEndMs ? buckets.validation : buckets.test).push(i);
    }
    const base = plan.out.replace(/\.arrow$/, '');
    const splitFiles = {} as NonNullable<TrainingSetManifest['split']>['files'];
    for (const [name, rows] of Object.entries(buckets) as Array<[keyof typeof buckets, number[]]>) {
      const file = `${base}.${name}.arrow`;
      files.push({ path: file, chunks: await arrowFileChunks(rowsOf(full, rows, table)) });
      splitFiles[name] = { path: file, rows: rows.length };
    }
    split = { ...plan.split, files: splitFiles };
  }
  // Encoded first, then written and synced side by side: all on disk before the manifest.
  await Promise.all(files.map((f) => writeFileAtomic(f.path, f.chunks)));

  const manifest: TrainingSetManifest = {
    id: plan.id,
    createdAt: new Date().toISOString(),
    path: plan.out,
    rowCount: data.length,
    contentHash,
    spine: plan.spine,
    features: [
      ...plan.views.flatMap((v) => v.features.map(manifestFeature(v, false))),
      ...plan.onDemand.flatMap((v) => v.features.map(manifestFeature(v, true))),
    ],
    views: [
      ...plan.views.map((v) => ({
        name: v.name,
        version: v.version,
        ttl: v.ttlMs === undefined ? null : `${v.ttlMs}ms`,
      })),
      ...plan.onDemand.map((v) => ({ name: v.name, version: v.version, ttl: null, onDemand: true as const })),
    ],
    timeRange: {
      start: new Date(plan.spine.startMs).toISOString(),
      end: new Date(plan.spine.endMs).toISOString(),
    },
    shards: plan.shards,
    parts,
    split,
    nullKeyRows: plan.spine.nullKeyRows,
  };
  await writeFileAtomic(
    `${plan.out.replace(/\.arrow$/, '')}.manifest.json`,
    Buffer.from(JSON.stringify(manifest, null, 2)),
  );
  await deps.db
    .insert(trainingSets)
    .values({
      id: plan.id,
      path: plan.out,
      spineSha256: plan.spine.sha256,
      rowCount: data.length,
      contentHash,
      manifest,
    })
    .onConflictDoUpdate({ target: trainingSets.id, set: { path: plan.out, contentHash, manifest } });
  return manifest;
}

export async function getTrainingSet(db: Db, id: string): Promise<TrainingSetManifest> {
  const [row] = await db.select().from(trainingSets).where(eq(trainingSets.id, id));
  if (!row) throw new InvalidInputError(`unknown training set "${id}"`);
  return row.manifest as TrainingSetManifest;
}
