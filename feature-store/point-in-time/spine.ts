import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import {
  appendKeyPart,
  encodeKeyCodes,
  type KeyCodes,
  type KeyEncoding,
} from '../definitions/entity-keys.js';
import { keyPart } from '../materialization/row-preparation.js';
import { openSource } from '../sources/index.js';
import type { SourceData } from '../sources/source-data.js';
import { InvalidInputError } from '../definitions/errors.js';

/**
 * The spine of a training set: rows (entity keys, timestamp, label…) to attach features to.
 * `entities` maps spine columns to entities; several columns make one key exactly as
 * `entityColumns` does at materialization (definitions/entity-keys.ts).
 */
export interface SpineSpec {
  path: string;
  entities: Array<{ entity: string; columns: string[] }>;
  tsColumn: string;
  labelColumn?: string;
  /** Spine column of each request field read by on-demand views, when not named like the field. */
  request?: Record<string, string>;
}

function spineKind(file: string): 'parquet' | 'arrow' | 'csv' {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.parquet') return 'parquet';
  if (ext === '.arrow' || ext === '.feather' || ext === '.ipc') return 'arrow';
  if (ext === '.csv') return 'csv';
  throw new InvalidInputError(`invalid spine file ${file}: expected .parquet, .arrow or .csv`);
}

/** Decoded spine (cached per process, apart from sources); the timestamp column becomes `eventTs`. */
export function openSpine(spec: SpineSpec, dataRoot: string): Promise<SourceData> {
  return openSource(
    { kind: spineKind(spec.path), path: spec.path, timestampField: spec.tsColumn },
    { dataRoot, cache: 'spines' },
  );
}

/** Dictionary-coded entity keys of the spine (code -1 where any key column is null or empty). */
export type SpineKeys = KeyCodes;

const keysCache = new WeakMap<SourceData, Map<string, SpineKeys>>();

/**
 * Builds one entity's keys, spelled in `encoding`, from one or more spine columns by combining
 * dictionary codes (no string per row). Cached per decoded spine: every shard of a build needs them.
 */
export function spineKeys(data: SourceData, columns: string[], encoding: KeyEncoding): SpineKeys {
  let cached = keysCache.get(data);
  if (!cached) keysCache.set(data, (cached = new Map()));
  const id = JSON.stringify([columns, encoding]);
  let keys = cached.get(id);
  if (!keys) cached.set(id, (keys = buildSpineKeys(data, columns, encoding)));
  return keys;
}

/** Positions 0..n-1, every row of a spine (a loop: `Uint32Array.from` with a map function is slow on millions). */
export function allRows(n: number): Uint32Array {
  const rows = new Uint32Array(n);
  for (let i = 0; i < n; i++) rows[i] = i;
  return rows;
}

function buildSpineKeys(data: SourceData, columns: string[], encoding: KeyEncoding): SpineKeys {
  if (columns.length === 0) throw new InvalidInputError('invalid spine entity: no key columns');
  const all = allRows(data.length);
  let keys: SpineKeys | undefined;
  for (const name of columns) {
    // Spelled as materialization spells stored keys; a row without a key gets null features.
    const part = encodeKeyCodes(
      keyPart(data.column(name), name, all, () => undefined),
      encoding,
    );
    keys = keys ? appendKeyPart(keys, part) : part;
  }
  return keys!;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
