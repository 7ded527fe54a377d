/**
 * Reads an Arrow IPC training-set (or holdout) file into the columnar form that trainers and
 * evaluation take: typed columns by name plus a 0/1 label, without per-row objects. Decoding reuses
 * the source readers' buffer-level decoder (feature-store/sources/columnar.ts), so dictionary strings,
 * int64, timestamps and bools are handled exactly as for feature sources.
 */
import { DataType, tableFromIPC } from 'apache-arrow';
import { type Column, decodeVector, type RawColumn, rawToColumn } from '../feature-store/index.js';
import { InvalidModelInputError } from './errors.js';

export interface LabeledColumns {
  rows: number;
  /** Every column except the label, by name. */
  columns: Record<string, Column>;
  /** 0/1 per row. */
  label: Uint8Array;
}

/**
 * Parses Arrow IPC bytes (file or stream format). The label column may be Bool or numeric (non-zero
 * is 1); a null label is an error, since evaluation and training need a label on every row.
 */
export function readLabeledArrow(bytes: Uint8Array, labelColumn: string): LabeledColumns {
  const table = tableFromIPC(bytes);
  const rows = table.numRows;
  const fields = table.schema.fields;
  if (!fields.some((f) => f.name === labelColumn)) {
    throw new InvalidModelInputError(
      `invalid label column "${labelColumn}": not found (columns: ${fields.map((f) => f.name).join(', ') || 'none'})`,
    );
  }
  const columns: Record<string, Column> = {};
  let label: Uint8Array | undefined;
  fields.forEach((field, index) => {
    const raw = decodeVector(table.getChildAt(index)!, rows);
    if (field.name === labelColumn) {
      label = labelFrom(raw, rows, labelColumn);
      return;
    }
    columns[field.name] = rawToColumn(raw, numberType(field.type));
  });
  return { rows, columns, label: label! };
}

/** Integer Arrow columns (plain or dictionary-encoded) are int64 features; other numbers float64. */
function numberType(type: DataType): 'int64' | 'float64' {
  return DataType.isInt(DataType.isDictionary(type) ? type.dictionary : type) ? 'int64' : 'float64';
}

/** Text labels, as a CSV spine gives them. */
const TEXT_LABELS: Record<string, 0 | 1> = { '0': 0, '1': 1, false: 0, true: 1 };

function labelFrom(raw: RawColumn, rows: number, name: string): Uint8Array {
  const label = new Uint8Array(rows);
  if (raw.kind === 'string') {
    const byCode = raw.dictionary.map((text) => TEXT_LABELS[text.trim().toLowerCase()]);
    for (let i = 0; i < rows; i++) {
      const code = raw.codes[i];
      const v = code < 0 ? undefined : byCode[code];
      if (v === undefined) {
        throw new InvalidModelInputError(
          `invalid label column "${name}": row ${i} holds ${code < 0 ? 'null' : JSON.stringify(raw.dictionary[code])}, expected a bool, a number, or 0/1/true/false`,
        );
      }
      label[i] = v;
    }
    return label;
  }
  for (let i = 0; i < rows; i++) {
    const v = raw.values[i];
    if (!raw.valid[i] || Number.isNaN(v))
      throw new InvalidModelInputError(`invalid label column "${name}": null at row ${i}`);
    label[i] = v !== 0 ? 1 : 0;
  }
  return label;
}
