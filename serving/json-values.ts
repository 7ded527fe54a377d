/** Served columns as JSON values: what `features.get` answers and what the prediction log stores. */
import type { Column } from '../feature-store/index.js';

export type JsonValue = string | number | boolean | null;

/** A column's value as JSON: null when missing (or NaN), timestamps as ISO text, bools as booleans. */
export function jsonValue(column: Column, i: number): JsonValue {
  if (!column.valid[i]) return null;
  const value = column.values[i];
  if (typeof value !== 'number') return value;
  if (Number.isNaN(value)) return null;
  if (column.type === 'timestamp') return isoTime(value);
  return column.type === 'bool' ? value === 1 : value;
}

/** ISO text of epoch ms, memoized: served rows repeat a few event times, and formatting one is slow. */
const isoTexts = new Map<number, string>();
export function isoTime(ms: number): string {
  let text = isoTexts.get(ms);
  if (text === undefined) {
    if (isoTexts.size >= 10_000) isoTexts.clear();
    isoTexts.set(ms, (text = new Date(ms).toISOString()));
  }
  return text;
}
