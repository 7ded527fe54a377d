/** Served columns as JSON values: what `features.get` answers and what the prediction log stores. */
import { FEATURE_CODECS, type Column } from '../feature-store/index.js';

export { isoTime } from '../feature-store/index.js';

export type JsonValue = string | number | boolean | null;

/** A column's value as JSON: null when missing (or NaN), else as its type's codec writes it. */
export function jsonValue(column: Column, i: number): JsonValue {
  if (!column.valid[i]) return null;
  const value = column.values[i]!;
  if (typeof value === 'number' && Number.isNaN(value)) return null;
  return FEATURE_CODECS[column.type].toJson(value);
}
