/**
 * The fingerprint of the source rows a chunk is computed from: a sha256 over every column the view
 * reads (event time, created time, key columns, feature or aggregated columns), in the rows' selection
 * order. A chunk whose fingerprint changed since it was committed is computed again (a new revision):
 * rows appended to a source after their chunk was materialized are picked up, exactly once.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FeatureViewDefinition } from '../definitions/types.js';
import { plainFeatures } from '../definitions/view-schema.js';
import type { RawColumn, SourceData } from '../sources/source-data.js';

/** Source columns a view reads besides its timestamps, sorted. */
function columnsRead(view: FeatureViewDefinition): string[] {
  const names = new Set<string>();
  for (const entity of view.entities) {
    const spec = view.entityColumns?.[entity.name] ?? entity.joinKey;
    for (const column of typeof spec === 'string' ? [spec] : spec) names.add(column);
  }
  if (view.transform) {
    for (const agg of view.transform.aggregations) if (agg.column !== undefined) names.add(agg.column);
  } else {
    for (const f of plainFeatures(view)) names.add(f.column);
  }
  return [...names].sort();
}

const bytes = (a: Float64Array | Uint8Array | Int32Array | Uint32Array) =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function gatherNumbers(values: Float64Array, rows: Uint32Array): Float64Array {
  const out = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = values[rows[i]];
  return out;
}

function gatherFlags(flags: Uint8Array | undefined, rows: Uint32Array): Uint8Array {
  const out = new Uint8Array(rows.length);
  if (flags) for (let i = 0; i < rows.length; i++) out[i] = flags[rows[i]];
  return out;
}

/**
 * Strings by value, not by the reader's dictionary codes (which change when a file grows): codes
 * renumbered in first-appearance order, then the text of each, length-prefixed.
 */
function hashStrings(hash: Hash, raw: Extract<RawColumn, { kind: 'string' }>, rows: Uint32Array): void {
  const local = new Int32Array(raw.dictionary.length).fill(-1);
  const codes = new Int32Array(rows.length);
  const texts: string[] = [];
  for (let i = 0; i < rows.length; i++) {
    const c = raw.codes[rows[i]];
    if (c < 0) codes[i] = -1;
    else codes[i] = local[c] >= 0 ? local[c] : (local[c] = texts.push(raw.dictionary[c]) - 1);
  }
  hash.update(bytes(codes));
  for (const text of texts) hash.update(`${Buffer.byteLength(text)}:${text}`);
}

function hashColumn(hash: Hash, name: string, raw: RawColumn, rows: Uint32Array): void {
  hash.update(`\0${name}\0${raw.kind}\0`);
  if (raw.kind === 'string') return hashStrings(hash, raw, rows);
  hash.update(bytes(gatherFlags(raw.valid, rows)));
  if (raw.kind === 'bool') return void hash.update(bytes(gatherFlags(raw.values, rows)));
  hash.update(bytes(gatherNumbers(raw.values, rows)));
  if (raw.kind === 'number') hash.update(bytes(gatherFlags(raw.inexact, rows)));
}

/** Fingerprint of `rows` (source positions, as SourceData.select returns them) of `data` for `view`. */
export function sourceFingerprint(view: FeatureViewDefinition, data: SourceData, rows: Uint32Array): string {
  return fingerprintRows(data, rows, columnsRead(view));
}

/**
 * Fingerprint of `rows` of `data` over their event and created times and `columns` (in that order),
 * malformed-row reasons included: anything that reads a source in chunks can tell a changed chunk.
 */
export function fingerprintRows(data: SourceData, rows: Uint32Array, columns: readonly string[]): string {
  let known = fingerprints.get(data);
  if (!known) fingerprints.set(data, (known = new Map()));
  // The rows' positions name them in this decoded file: hashing them is a small part of hashing their values.
  const key = `${columns.join('\0')}\0${createHash('sha256').update(bytes(rows)).digest('hex')}`;
  let fingerprint = known.get(key);
  if (fingerprint === undefined) {
    known.set(key, (fingerprint = hashRows(data, rows, columns)));
    if (known.size > CACHED_FINGERPRINTS) known.delete(known.keys().next().value!);
  }
  return fingerprint;
}

/** Fingerprints kept per decoded file (oldest dropped first): a file's chunks, checked run after run. */
const CACHED_FINGERPRINTS = 256;

/**
 * Fingerprints by decoded file, while the source cache keeps it (an unchanged file): a monitor run
 * a day checks its window's label chunks, a materialization its lookback, and most are unchanged.
 */
const fingerprints = new WeakMap<SourceData, Map<string, string>>();

function hashRows(data: SourceData, rows: Uint32Array, columns: readonly string[]): string {
  const hash = createHash('sha256');
  hash.update(`rows:${rows.length}\0`);
  hash.update(bytes(gatherNumbers(data.eventTs, rows)));
  if (data.createdTs) hash.update(bytes(gatherNumbers(data.createdTs, rows)));
  for (const name of columns) hashColumn(hash, name, data.column(name), rows);
  if (data.malformed) {
    for (let i = 0; i < rows.length; i++) {
      const reason = data.malformed.get(rows[i]);
      if (reason !== undefined) hash.update(`\0malformed:${i}:${reason}`);
    }
  }
  return hash.digest('hex');
}
