/**
 * Erasing an entity key from stored training sets: every set whose spine keys the entity is rewritten
 * without the rows of the key — its file, each split file and its manifest (rows, content hash, and
 * the erasure in `erasures`) — and its registry row updated; part files of multi-shard builds (spine
 * rows' features, no longer needed once consolidated) are removed. Column types and dictionary ids
 * are kept as the build wrote them, so an unchanged row reads back the same.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { eq, gte } from 'drizzle-orm';
import { Table, tableFromIPC, type Vector } from 'apache-arrow';
import type { Db } from '../../db/client.js';
import { trainingSets } from '../../db/schema.js';
import { rawColumnToVector } from '../columns/arrow-columns.js';
import { columnToVector } from '../columns/codecs.js';
import { encodeEntityKey } from '../definitions/entity-keys.js';
import type { FeatureType } from '../definitions/types.js';
import { arrowFileChunks, writeFileAtomic } from '../offline/atomic-file.js';
import type { TrainingSetManifest } from '../point-in-time/training-set.js';
import { decodeVector, rawToColumn } from '../sources/columnar.js';
import type { RawColumn } from '../sources/source-data.js';
import { erasedKeyMatcher } from './erased-keys.js';

export interface TrainingSetErasure {
  id: string;
  rowsRemoved: number;
  previousContentHash: string;
  contentHash: string;
  /** Files rewritten (the set's and its splits') and part files removed. */
  rewritten: string[];
  partsRemoved: number;
}

/** A manifest as stored, with the erasures applied to it. */
type ErasedManifest = TrainingSetManifest & {
  erasures?: Array<{ erasure: string; entity: string; rowsRemoved: number; previousContentHash: string }>;
};

/** A raw cell's text as a key part (numbers as the spine spells them in keys). */
function cellText(raw: RawColumn, i: number): string | null {
  if (raw.kind === 'string') return raw.codes[i] < 0 ? null : raw.dictionary[raw.codes[i]];
  if (!raw.valid[i]) return null;
  return raw.kind === 'bool' ? String(raw.values[i] === 1) : String(raw.values[i]);
}

/** Positions of `table`'s rows to keep: those whose `columns` (one entity's key) are not an erased key. */
function keptRows(table: Table, entity: string, columns: string[], hashes: ReadonlySet<string>): Uint32Array {
  const erased = erasedKeyMatcher([entity], 'escaped', hashes);
  const raws = columns.map((name) => decodeVector(table.getChild(name)!, table.numRows));
  const keep: number[] = [];
  const parts = new Array<string>(columns.length);
  for (let i = 0; i < table.numRows; i++) {
    let complete = true;
    for (let k = 0; k < raws.length && complete; k++) {
      const text = cellText(raws[k], i);
      if (text === null || text.trim() === '') complete = false;
      else parts[k] = text;
    }
    if (!complete || !erased(encodeEntityKey(parts, 'escaped'))) keep.push(i);
  }
  return Uint32Array.from(keep);
}

/** `rows` of `table`, each column re-encoded as the build wrote it (feature columns by their type). */
function gatherTable(table: Table, rows: Uint32Array, featureTypes: ReadonlyMap<string, FeatureType>): Table {
  const vectors: Record<string, Vector> = {};
  table.schema.fields.forEach((field, dictionaryId) => {
    const raw = decodeVector(table.getChild(field.name)!, table.numRows);
    const type = featureTypes.get(field.name);
    vectors[field.name] = type
      ? columnToVector(rawToColumn(raw, type === 'int64' ? 'int64' : 'float64'), {
          dictionaryId,
          rows,
          label: field.name,
        })
      : rawColumnToVector(raw, rows.length, { dictionaryId, rows, label: field.name });
  });
  return new Table(vectors);
}

/** Rewrites `file` without the erased key's rows; returns its new chunks' hash and the rows removed. */
async function rewriteFile(
  file: string,
  entity: string,
  columns: string[],
  hashes: ReadonlySet<string>,
  featureTypes: ReadonlyMap<string, FeatureType>,
): Promise<{ rows: number; contentHash: string }> {
  const table = tableFromIPC(readFileSync(file));
  const keep = keptRows(table, entity, columns, hashes);
  const removed = table.numRows - keep.length;
  const chunks = removed === 0 ? null : await arrowFileChunks(gatherTable(table, keep, featureTypes));
  if (chunks) await writeFileAtomic(file, chunks);
  const hash = createHash('sha256');
  for (const chunk of chunks ?? (await arrowFileChunks(table))) hash.update(chunk);
  return { rows: keep.length, contentHash: hash.digest('hex') };
}

export async function eraseFromTrainingSets(
  db: Db,
  erasure: { id: string; entity: string; hashes: ReadonlySet<string> },
  opts: { createdSince?: Date } = {},
): Promise<TrainingSetErasure[]> {
  const stored = await db
    .select()
    .from(trainingSets)
    .where(opts.createdSince ? gte(trainingSets.createdAt, opts.createdSince) : undefined)
    .orderBy(trainingSets.createdAt);
  const results: TrainingSetErasure[] = [];
  for (const row of stored) {
    const manifest = row.manifest as ErasedManifest;
    const keyed = manifest.spine.entities.find((e) => e.entity === erasure.entity);
    if (!keyed || !existsSync(manifest.path)) continue;
    if (manifest.erasures?.some((e) => e.erasure === erasure.id)) continue; // a retried step
    const featureTypes = new Map(manifest.features.map((f) => [f.column, f.type]));
    const rewrite = (file: string) =>
      rewriteFile(file, erasure.entity, keyed.columns, erasure.hashes, featureTypes);
    const full = await rewrite(manifest.path);
    // Against the manifest, not this rewrite: an attempt that rewrote the file and died before the
    // manifest is finished by the next one.
    const removed = manifest.rowCount - full.rows;
    if (removed === 0) continue;
    const rewritten = [manifest.path];
    const split = manifest.split && structuredClone(manifest.split);
    if (split)
      for (const entry of Object.values(split.files)) {
        if (!existsSync(entry.path)) continue;
        entry.rows = (await rewrite(entry.path)).rows;
        rewritten.push(entry.path);
      }
    for (const part of manifest.parts) rmSync(part, { force: true });
    const updated: ErasedManifest = {
      ...manifest,
      rowCount: full.rows,
      contentHash: full.contentHash,
      parts: [],
      ...(split ? { split } : {}),
      erasures: [
        ...(manifest.erasures ?? []),
        {
          erasure: erasure.id,
          entity: erasure.entity,
          rowsRemoved: removed,
          previousContentHash: manifest.contentHash,
        },
      ],
    };
    await writeFileAtomic(
      `${manifest.path.replace(/\.arrow$/, '')}.manifest.json`,
      Buffer.from(JSON.stringify(updated, null, 2)),
    );
    await db
      .update(trainingSets)
      .set({ rowCount: full.rows, contentHash: full.contentHash, manifest: updated })
      .where(eq(trainingSets.id, row.id));
    results.push({
      id: row.id,
      rowsRemoved: removed,
      previousContentHash: manifest.contentHash,
      contentHash: full.contentHash,
      rewritten,
      partsRemoved: manifest.parts.length,
    });
  }
  return results;
}
