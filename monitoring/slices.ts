/**
 * Cutting a window's predictions into the slices of a monitor policy: each slice gives every row a
 * code into its value labels (−1: the row has no value for it). Columnar: one pass per slice.
 */
import type { SliceSpec } from './policy.js';
import type { TextColumn, VersionRows } from './window-reader.js';

/** What slicing reads of a set of rows: the numeric inputs, event times and prediction fields. */
export type SliceableRows = Pick<VersionRows, 'version' | 'rows' | 'eventTs' | 'inputs' | 'texts'>;

export interface SliceCodes {
  name: string;
  /** `<slice>=<label>` subjects, by code. */
  labels: string[];
  codes: Int32Array;
  /** A field slice's values kept apart from `other`. */
  kept?: string[];
}

/** Labels of the buckets of `edges`: below the first, between consecutive ones, from the last. */
function bucketLabels(edges: number[]): string[] {
  return [
    `<${edges[0]}`,
    ...edges.slice(0, -1).map((e, i) => `${e}..${edges[i + 1]}`),
    `>=${edges[edges.length - 1]}`,
  ];
}

/** Bucket index of a value (NaN: −1): 0 below edges[0], k for edges[k-1] <= v < edges[k]. */
function bucketOf(edges: number[], value: number): number {
  if (Number.isNaN(value)) return -1;
  let k = 0;
  while (k < edges.length && value >= edges[k]) k++;
  return k;
}

function bucketed(name: string, edges: number[], values: (i: number) => number, rows: number): SliceCodes {
  const codes = new Int32Array(rows);
  for (let i = 0; i < rows; i++) codes[i] = bucketOf(edges, values(i));
  return { name, labels: bucketLabels(edges).map((l) => `${name}=${l}`), codes };
}

/** The WindowQuery texts a slice needs: an entity or request field of the predictions. */
export const sliceTexts = (slices: SliceSpec[]): string[] =>
  slices.flatMap((s) => ('field' in s ? [`entities.${s.field}`] : []));

/**
 * The codes of one slice over a version's rows, `inputColumns` the model's inputs in order; undefined
 * when this version cannot be cut so (an input slice on an input it does not read: no verdict). A
 * field slice keeps the values `kept` names (a reference's: windows are cut as their reference was),
 * else its `top` most frequent here; the rest are `other`.
 */
export function sliceCodes(
  slice: SliceSpec,
  rows: SliceableRows,
  inputColumns: readonly string[],
  kept?: readonly string[],
): SliceCodes | undefined {
  if ('input' in slice) {
    const position = inputColumns.indexOf(slice.input);
    if (position < 0) return undefined;
    const values = rows.inputs[position];
    return bucketed(slice.name, slice.edges, (i) => values?.[i] ?? NaN, rows.rows);
  }
  if ('eventHour' in slice) {
    const ts = rows.eventTs;
    return bucketed(slice.name, slice.eventHour, (i) => Math.floor(ts[i] / 3_600_000) % 24, rows.rows);
  }
  const text = rows.texts[`entities.${slice.field}`];
  if (!text) return undefined;
  const byGroup = new Map<string, string>();
  for (const [group, members] of Object.entries(slice.groups ?? {}))
    for (const member of members) byGroup.set(member, group);
  const keep = new Set(kept ?? mostFrequent(text, rows.rows, byGroup, slice.top ?? (slice.groups ? 0 : 20)));
  const labels: string[] = [];
  const labelCode = new Map<string, number>();
  const codeOfLabel = (label: string) => {
    let code = labelCode.get(label);
    if (code === undefined) labelCode.set(label, (code = labels.push(`${slice.name}=${label}`) - 1));
    return code;
  };
  const byValue = text.dictionary.map((value) =>
    codeOfLabel(byGroup.get(value) ?? (keep.has(value) ? value : 'other')),
  );
  const codes = new Int32Array(rows.rows);
  for (let i = 0; i < rows.rows; i++) codes[i] = text.codes[i] < 0 ? -1 : byValue[text.codes[i]];
  return { name: slice.name, labels, codes, kept: [...keep] };
}

/** The `top` most frequent values outside the groups (ties by value). */
function mostFrequent(text: TextColumn, rows: number, byGroup: Map<string, string>, top: number): string[] {
  const counts = new Float64Array(text.dictionary.length);
  for (let i = 0; i < rows; i++) if (text.codes[i] >= 0) counts[text.codes[i]]++;
  return text.dictionary
    .map((value, code) => ({ value, code }))
    .filter(({ value }) => !byGroup.has(value))
    .sort((a, b) => counts[b.code] - counts[a.code] || (a.value < b.value ? -1 : 1))
    .slice(0, top)
    .map(({ value }) => value);
}
