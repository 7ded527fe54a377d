/**
 * Reads an Arrow IPC training-set (or holdout) file into the columnar form that trainers and
 * evaluation take: typed columns by name plus a 0/1 label, without per-row objects. Decoding reuses
 * the source readers' buffer-level decoder (feature-store/sources/columnar.ts), so dictionary strings,
 * int64, timestamps and bools are handled exactly as for feature sources.
 */
import { DataType, tableFromIPC, Type } from 'apache-arrow';
import { decodeVector } from '../feature-store/sources/columnar.js';
import type { RawColumn } from '../feature-store/sources/source-data.js';
import type { Column, FeatureType } from '../feature-store/types.js';

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
    throw new Error(
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
    columns[field.name] = toColumn(raw, featureType(field.type), rows);
  });
  return { rows, columns, label: label! };
}

function featureType(type: DataType): FeatureType {
  const t: DataType = DataType.isDictionary(type) ? type.dictionary : type;
  switch (t.typeId) {
    case Type.Int:
      return 'int64';
    case Type.Float:
      return 'float64';
    case Type.Bool:
      return 'bool';
    case Type.Timestamp:
    case Type.Date:
      return 'timestamp';
    default:
      return 'string';
  }
}

function toColumn(raw: RawColumn, type: FeatureType, rows: number): Column {
  if (raw.kind === 'string') {
    const values = new Array<string | null>(rows);
    const valid = new Uint8Array(rows);
    for (let i = 0; i < rows; i++) {
      const code = raw.codes[i];
      if (code < 0) values[i] = null;
      else {
        values[i] = raw.dictionary[code];
        valid[i] = 1;
      }
    }
    // Non-text types decoded as text (decimal, time...) keep the 'string' type.
    return { type: 'string', values, valid };
  }
  if (raw.kind === 'bool') return { type: 'bool', values: raw.values, valid: raw.valid };
  if (raw.kind === 'timestamp') return { type: 'timestamp', values: raw.values, valid: raw.valid };
  return { type: type === 'int64' ? 'int64' : 'float64', values: raw.values, valid: raw.valid };
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
        throw new Error(
          `invalid label column "${name}": row ${i} holds ${code < 0 ? 'null' : JSON.stringify(raw.dictionary[code])}, expected a bool, a number, or 0/1/true/false`,
        );
      }
      label[i] = v;
    }
    return label;
  }
  for (let i = 0; i < rows; i++) {
    const v = raw.values[i];
    if (!raw.valid[i] || Number.isNaN(v)) throw new Error(`invalid label column "${name}": null at row ${i}`);
    label[i] = v !== 0 ? 1 : 0;
  }
  return label;
}
