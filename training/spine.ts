/**
 * The spine of a training run, built from a label source as of a time: the source's events in a range
 * whose label was known by then — never a label from the future of the run — with the columns that
 * key their entities and request fields, the event time, and the label. Rows the source cannot label
 * (quarantined at ingestion, with their reason) are left out and counted.
 */
import { Bool, makeData, makeVector, Table, tableToIPC, type Vector } from 'apache-arrow';
import type pg from 'pg';
import {
  InvalidInputError,
  openSource,
  rawColumnToVector,
  writeFileAtomic,
  type SpineSpec,
  type TimeRange,
} from '../feature-store/index.js';
import type { StoredLabelSource } from '../monitoring/labels/ingest.js';
import { labelRows } from '../monitoring/labels/ingest.js';

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
  const selected = data.select(range);
  const labelled = labelRows(def, data, selected);
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
  await writeFileAtomic(out, tableToIPC(new Table(vectors), 'file'));
  return {
    spine: { path: out, entities, tsColumn, labelColumn: spineLabelColumn(source), request },
    rows,
    notYetKnown: labelled.keys.length - rows,
    unusable: labelled.quarantined.length,
    splitRows,
  };
}
