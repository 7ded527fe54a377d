/**
 * The spine of a training run, built from a label source as of a time: the source's events in a range
 * whose label was known by then — never a label from the future of the run — with the columns that
 * key their entities and request fields, the event time, and the label. Rows the source cannot label
 * (quarantined at ingestion, with their reason) are left out and counted.
 */
import { Bool, makeData, makeVector, Table, type Vector } from 'apache-arrow';
import type pg from 'pg';
import { MATERIALIZATION } from '../constants.js';
import {
  InvalidInputError,
  openSource,
  planChunks,
  rawColumnToVector,
  writeArrowFileAtomic,
  type SourceData,
  type SpineSpec,
  type TimeRange,
} from '../feature-store/index.js';
import type { StoredLabelSource } from '../monitoring/labels/ingest.js';
import { labelRows } from '../monitoring/labels/ingest.js';
import type { LabelSourceDefinition } from '../monitoring/labels/label-source.js';

export interface LabelSpine {
  spine: SpineSpec;
  rows: number;
  /** Events in the range whose label was not known yet at the as-of time. */
  notYetKnown: number;
  /** Source rows in the range the label source refuses (missing key, bad label…). */
  unusable: number;
  /** Rows per part of the range cut at `bounds` (e.g. train / validation / test). */
  splitRows: number[];
}

/** The spine column holding the label: the label source's name. */
export const spineLabelColumn = (source: StoredLabelSource) => source.name;

/** What a spine takes of a source's labelled rows (not their keys: it keeps the key columns). */
interface SpineRows {
  eventTs: Float64Array;
  knownAt: Float64Array;
  positions: Uint32Array;
  label: Uint8Array;
  /** Positions of the rows the label source refuses. */
  refused: Uint32Array;
}

/** Chunks of labelled rows kept per opened source (at most, by first use). */
const CACHED_CHUNKS = 32;

/**
 * Labelled rows per grid chunk of an opened source, kept while openSource keeps the source (a file's
 * data, while the file is unchanged): retraining after retraining, a spine reads mostly the chunks the
 * last one read, and labelling a chunk's rows (validation, keys) was most of a spine's time.
 */
const chunksBySource = new WeakMap<SourceData, Map<string, SpineRows>>();

function labelledChunk(def: LabelSourceDefinition, data: SourceData, chunk: TimeRange): SpineRows {
  let chunks = chunksBySource.get(data);
  if (!chunks) chunksBySource.set(data, (chunks = new Map()));
  const key = `${chunk.startMs}:${JSON.stringify(def)}`;
  let rows = chunks.get(key);
  if (!rows) {
    const { eventTs, knownAt, positions, label, quarantined } = labelRows(def, data, data.select(chunk));
    rows = { eventTs, knownAt, positions, label, refused: Uint32Array.from(quarantined, (q) => q.position) };
    chunks.set(key, rows);
    if (chunks.size > CACHED_CHUNKS) chunks.delete(chunks.keys().next().value!);
  }
  return rows;
}

/** The source's labelled rows with event times in `range`, and how many it refuses there. */
function labelledRowsIn(
  def: LabelSourceDefinition,
  data: SourceData,
  range: TimeRange,
): Omit<SpineRows, 'refused'> & { unusable: number } {
  const inRange = (ts: number) => ts >= range.startMs && ts < range.endMs;
  const chunks = range.endMs > range.startMs ? planChunks(range, MATERIALIZATION.chunkMs) : [];
  const parts = chunks.map((chunk) => labelledChunk(def, data, chunk));
  let n = 0;
  for (const part of parts) for (const ts of part.eventTs) if (inRange(ts)) n++;
  const out = {
    eventTs: new Float64Array(n),
    knownAt: new Float64Array(n),
    positions: new Uint32Array(n),
    label: new Uint8Array(n),
    unusable: 0,
  };
  let at = 0;
  for (const part of parts) {
    for (let i = 0; i < part.eventTs.length; i++) {
      if (!inRange(part.eventTs[i])) continue;
      out.eventTs[at] = part.eventTs[i];
      out.knownAt[at] = part.knownAt[i];
      out.positions[at] = part.positions[i];
      out.label[at++] = part.label[i];
    }
    for (const position of part.refused) if (inRange(data.eventTs[position])) out.unusable++;
  }
  return out;
}

export async function writeLabelSpine(
  deps: { pool: pg.Pool; dataRoot: string },
  source: StoredLabelSource,
  range: TimeRange,
  asOfMs: number,
  out: string,
  bounds: readonly number[] = [],
): Promise<LabelSpine> {
  const def = source.definition;
  if (!def.source)
    throw new InvalidInputError(
      `label source "${def.name}" has no source: a spine needs its rows (labels fed back only cannot make one)`,
    );
  const data = await openSource(def.source, { dataRoot: deps.dataRoot, pool: deps.pool });
  const labelled = labelledRowsIn(def, data, range);
  const known: number[] = [];
  const splitRows = new Array<number>(bounds.length + 1).fill(0);
  for (let i = 0; i < labelled.knownAt.length; i++) {
    if (labelled.knownAt[i] > asOfMs) continue;
    known.push(i);
    splitRows[bounds.filter((b) => labelled.eventTs[i] >= b).length]++;
  }
  // In file order: a spine keeps its rows' order, and training-set content hashes depend on it.
  const order = Uint32Array.from(known, (i) => labelled.positions[i]).sort();
  const labelAt = new Uint8Array(data.length);
  for (const i of known) labelAt[labelled.positions[i]] = labelled.label[i];
  const rows = order.length;
  const entities = def.entities.map((e) => {
    const columns = def.entityColumns?.[e.name] ?? e.joinKey;
    return { entity: e.name, columns: typeof columns === 'string' ? [columns] : columns };
  });
  const request = Object.fromEntries(
    Object.entries(def.request ?? {}).map(([field, { column }]) => [field, column]),
  );
  const tsColumn = def.source.timestampField!;
  const columns = [...new Set([...entities.flatMap((e) => e.columns), ...Object.values(request), tsColumn])];
  const vectors: Record<string, Vector> = {};
  columns.forEach((name, k) => {
    const raw =
      name === tsColumn
        ? { kind: 'timestamp' as const, values: data.eventTs, valid: new Uint8Array(data.length).fill(1) }
        : data.column(name);
    vectors[name] = rawColumnToVector(raw, rows, { dictionaryId: k, rows: order, label: name });
  });
  const label = new Uint8Array((rows + 7) >> 3);
  order.forEach((p, i) => {
    if (labelAt[p] === 1) label[i >> 3] |= 1 << (i & 7);
  });
  vectors[spineLabelColumn(source)] = makeVector(makeData({ type: new Bool(), length: rows, data: label }));
  await writeArrowFileAtomic(out, new Table(vectors));
  return {
    spine: { path: out, entities, tsColumn, labelColumn: spineLabelColumn(source), request },
    rows,
    notYetKnown: labelled.positions.length - rows,
    unusable: labelled.unusable,
    splitRows,
  };
}
