/**
 * Entry point for reading a view's source: `openSource` resolves, reads and decodes it, caching
 * decoded files so that the many chunks of one materialization read and decode a file once.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { SourceDefinition, TimeRange } from '../definitions/types.js';
import { readArrowColumns } from './arrow-ipc.js';
import { withEventTime, type ColumnSet, type EventTimeSpec } from './columnar.js';
import { readCsvColumns } from './csv.js';
import { readParquetColumns } from './parquet.js';
import { readPostgresTable } from './postgres-table.js';
import { SourceError, type SourceData } from './source-data.js';

export { MAX_EVENT_TS, MIN_EVENT_TS, SourceError } from './source-data.js';
export type { RawColumn, SourceData, SourceErrorCode } from './source-data.js';
export { parseTimestampText } from '../definitions/timestamp-text.js';

export interface OpenSourceOptions {
  /** Relative source paths resolve against this directory. */
  dataRoot: string;
  /** Needed for postgres sources only. */
  pool?: pg.Pool;
  /** Rows a caller needs (plus untimed ones); files are read whole regardless and cached. */
  range?: TimeRange;
  /**
   * Which cache keeps the decoded file: `spines` for a run's one-off spine files, so that a stream
   * of them (a scoring run a day, a training set a retraining) never pushes out a view's or a label
   * source's file, which every run reads again. Default `sources`.
   */
  cache?: 'sources' | 'spines';
}

type FileSource = Exclude<SourceDefinition, { kind: 'postgres' }>;

/**
 * Decoded files kept at once per cache (so up to twice this in all; a file read both as a spine and
 * as a source is decoded in each): flights-3m alone holds a few hundred MB decoded.
 */
const MAX_CACHED_FILES = 2;

interface CacheEntry {
  /** The file's size and mtime when read; a different stat means the file changed. */
  identity: string;
  columns: Promise<ColumnSet>;
  /** One SourceData per timing (timestamp field or static time), sharing the decoded columns. */
  views: Map<string, Promise<SourceData>>;
}

/** Keyed by kind, delimiter and absolute path, in least-recently-used order (Map insertion order). */
const caches = { sources: new Map<string, CacheEntry>(), spines: new Map<string, CacheEntry>() };

export async function openSource(source: SourceDefinition, opts: OpenSourceOptions): Promise<SourceData> {
  if (source.kind === 'postgres') {
    if (!opts.pool) throw new Error(`postgres source ${source.table} needs a database pool`);
    return readPostgresTable(opts.pool, source, opts.range);
  }
  return openFile(source, path.resolve(opts.dataRoot, source.path), caches[opts.cache ?? 'sources']);
}

/** Drops every cached file (tests; or to release memory after a large materialization). */
export function clearSourceCache(): void {
  for (const cache of Object.values(caches)) cache.clear();
}

async function openFile(
  source: FileSource,
  file: string,
  cache: Map<string, CacheEntry>,
): Promise<SourceData> {
  const identity = await fileIdentity(file);
  const key = `${source.kind}\0${source.kind === 'csv' ? (source.delimiter ?? ',') : ''}\0${file}`;
  // No await between the lookup and the insert below: concurrent callers share one read.
  let entry = cache.get(key);
  if (!entry || entry.identity !== identity) {
    const fresh: CacheEntry = { identity, columns: readColumns(source, file), views: new Map() };
    fresh.columns.catch(() => {
      // A failed read is not cached: the next call retries (the file may have been fixed).
      if (cache.get(key) === fresh) cache.delete(key);
    });
    entry = fresh;
  }
  cache.delete(key);
  cache.set(key, entry);
  while (cache.size > MAX_CACHED_FILES) cache.delete(cache.keys().next().value!);

  const timing: EventTimeSpec = {
    timestampField: source.timestampField,
    staticTimestamp: source.staticTimestamp,
    createdTimestampField: source.createdTimestampField,
  };
  const timingKey = JSON.stringify([
    timing.timestampField ?? null,
    timing.timestampField ? null : (timing.staticTimestamp ?? null),
    timing.createdTimestampField ?? null,
  ]);
  let view = entry.views.get(timingKey);
  if (!view) {
    const cached = entry;
    view = cached.columns.then((columns) => withEventTime(columns, timing));
    cached.views.set(timingKey, view);
    // A view that cannot be built (missing timestamp column) is not kept either.
    view.catch(() => cached.views.get(timingKey) === view && cached.views.delete(timingKey));
  }
  return view;
}

async function fileIdentity(file: string): Promise<string> {
  try {
    const st = await stat(file);
    return `${st.size}:${st.mtimeMs}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new SourceError('SOURCE_MISSING', `source file not found: ${file}`);
    throw new SourceError('SOURCE_CORRUPT', `cannot read file ${file}: ${(err as Error).message}`);
  }
}

async function readColumns(source: FileSource, file: string): Promise<ColumnSet> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SourceError('SOURCE_MISSING', `source file not found: ${file}`);
    throw new SourceError(
      'SOURCE_CORRUPT',
      `cannot read ${source.kind} file ${file}: ${(err as Error).message}`,
    );
  }
  switch (source.kind) {
    case 'parquet':
      return readParquetColumns(bytes, file);
    case 'arrow':
      return readArrowColumns(bytes, file);
    case 'csv':
      return readCsvColumns(bytes, file, source.delimiter);
  }
}
