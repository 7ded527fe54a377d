/** Fits the model's input preprocessing on the training split (never on validation: no leakage). */
import type { Column } from '../../feature-store/index.js';
import type { InputColumn } from './model.js';

export function fitInputs(
  columns: Record<string, Column>,
  rows: number,
  features: readonly string[],
  maxCategories: number,
): InputColumn[] {
  return features.map((name) => {
    const column = columns[name];
    if (!column) throw new Error(`feature column "${name}" is missing from the training data`);
    return Array.isArray(column.values)
      ? fitCategorical(name, column.values, column.valid, rows, maxCategories)
      : fitNumeric(name, column.values, column.valid, rows);
  });
}

/** Mean/std over present values; bool (Uint8Array) columns are numeric 0/1. */
function fitNumeric(
  name: string,
  values: Float64Array | Uint8Array,
  valid: Uint8Array,
  rows: number,
): InputColumn {
  let present = 0;
  let sum = 0;
  for (let i = 0; i < rows; i++) {
    const x = values[i];
    if (!valid[i] || Number.isNaN(x)) continue;
    // Preprocessing passes infinities through; they would turn every weight into NaN.
    if (!Number.isFinite(x)) throw new Error(`feature column "${name}" has infinite values`);
    present++;
    sum += x;
  }
  const mean = present > 0 ? sum / present : 0;
  let squares = 0;
  for (let i = 0; i < rows; i++) {
    const x = values[i];
    if (valid[i] && !Number.isNaN(x)) squares += (x - mean) * (x - mean);
  }
  const std = present > 0 ? Math.sqrt(squares / present) : 0;
  return {
    kind: 'numeric',
    name,
    mean,
    std: std > 0 ? std : 1,
    fill: mean,
    missingIndicator: present < rows,
  };
}

function fitCategorical(
  name: string,
  values: (string | null)[],
  valid: Uint8Array,
  rows: number,
  maxCategories: number,
): InputColumn {
  const distinct = new Set<string>();
  for (let i = 0; i < rows; i++) {
    const value = values[i];
    if (valid[i] && value !== null) distinct.add(value);
  }
  if (distinct.size > maxCategories)
    throw new Error(
      `feature column "${name}" has ${distinct.size} distinct values, more than maxCategories ` +
        `(${maxCategories}); drop it from the features or raise maxCategories`,
    );
  return { kind: 'categorical', name, categories: [...distinct].sort() };
}
