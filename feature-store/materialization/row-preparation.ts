/**
 * Validation and typing of selected source rows: the step between a decoded source and the
 * transformations (plain projection, window aggregation). Every selected row ends up either in the
 * prepared columns or in quarantine with a reason; nothing is dropped silently.
 *
 * Work is columnar: each check is a loop over one column with typed arrays, and string columns are
 * parsed once per dictionary entry rather than once per row.
 */
import { isUsableTime, type RawColumn, type SourceData } from '../sources/source-data.js';
import type { Column, FeatureType, FeatureViewDefinition, QuarantinedRow } from '../definitions/types.js';
import {
  appendEntityKey,
  appendKeyPart,
  encodeKeyCodes,
  entityKeyOverLimit,
  MAX_ENTITY_KEY_BYTES,
  type KeyCodes,
  type KeyEncoding,
} from '../definitions/entity-keys.js';
import { parseIsoTimestamp } from '../definitions/timestamp-text.js';
import { plainFeatures } from '../definitions/view-schema.js';

/** Validated rows in columnar form, in selection order (ascending event time). */
export interface PreparedRows {
  length: number;
  /** Entity key of each row as an index into `keys`: transformations group on these integers. */
  keyCodes: Int32Array;
  /** Distinct entity keys, spelled as the view version's key encoding says (definitions/entity-keys.ts). */
  keys: string[];
  /** Event time, epoch ms, always within [MIN_EVENT_TS, MAX_EVENT_TS). */
  eventTs: Float64Array;
  /** Created time (epoch ms, in range) when the source names a createdTimestampField. */
  createdTs?: Float64Array;
  /** 0-based source position of each row, to trace a value back to its origin. */
  positions: Uint32Array;
  /**
   * Cast columns. Plain views: by feature name, cast to the feature's type. Window views: by source
   * column name (each aggregation's `column`), cast to float64.
   */
  columns: Record<string, Column>;
}

/** Stable prefixes of quarantine reasons; the rest of a reason names the column and value. */
export const QUARANTINE_REASON = {
  malformed: 'malformed row',
  missingTimestamp: 'missing timestamp',
  missingCreatedTimestamp: 'missing created timestamp',
  timestampOutOfRange: 'timestamp out of range',
  missingEntityKey: 'missing entity key',
  entityKeyTooLong: 'entity key too long',
  invalidText: 'invalid text',
  wrongType: 'wrong type',
  nonFinite: 'non-finite value',
  inexactInt64: 'int64 not exactly representable',
} as const;

const R = QUARANTINE_REASON;

/** Per-row first failure. Later checks never overwrite an earlier reason, so precedence is check order. */
class Rejections {
  readonly flags: Uint8Array;
  readonly reasons = new Map<number, string>();
  constructor(length: number) {
    this.flags = new Uint8Array(length);
  }
  add(i: number, reason: string): void {
    if (this.flags[i] === 0) {
      this.flags[i] = 1;
      this.reasons.set(i, reason);
    }
  }
}

/**
 * Validates and types the selected rows (`rows`: source positions, as returned by
 * `SourceData.select`). Checks, in precedence order: reader-reported malformed rows, event time,
 * created time, entity key (missing, not storable text, over MAX_ENTITY_KEY_BYTES), then each cast
 * column. Text Postgres cannot store — a NUL character, bytes that were not UTF-8 — is quarantined
 * wherever a view reads it. Keys are spelled in `encoding`.
 */
export function prepareRows(
  view: FeatureViewDefinition,
  data: SourceData,
  rows: Uint32Array,
  encoding: KeyEncoding,
): { input: PreparedRows; quarantined: QuarantinedRow[] } {
  const rejects = new Rejections(rows.length);
  checkMalformed(data, rows, rejects);
  checkTime(data.eventTs, view.source.timestampField, R.missingTimestamp, data, rows, rejects);
  const createdField = view.source.createdTimestampField;
  if (createdField !== undefined) {
    if (!data.createdTs)
      throw new Error(`source of "${view.name}" was opened without its created timestamps`);
    checkTime(data.createdTs, createdField, R.missingCreatedTimestamp, data, rows, rejects);
  }
  const key = buildEntityKeys(view, data, rows, rejects, encoding);

  const cast: Record<string, Column> = {};
  if (view.transform) {
    // Aggregations read numbers; several aggregations over one column share one cast.
    for (const agg of view.transform.aggregations) {
      if (agg.column === undefined || agg.column in cast) continue;
      cast[agg.column] = castColumn(data.column(agg.column), agg.column, rows, 'float64', false, rejects);
    }
  } else {
    for (const f of plainFeatures(view)) {
      cast[f.name] = castColumn(data.column(f.column), f.column, rows, f.type, f.allowNonFinite, rejects);
    }
  }

  // Compact: keep the rows that passed every check, in selection order.
  const keep = new Uint32Array(rows.length - rejects.reasons.size);
  for (let i = 0, k = 0; i < rows.length; i++) if (rejects.flags[i] === 0) keep[k++] = i;
  const columns: Record<string, Column> = {};
  for (const [name, column] of Object.entries(cast)) columns[name] = compactColumn(column, keep);
  const input: PreparedRows = {
    length: keep.length,
    keyCodes: gather(key.codes, keep, new Int32Array(keep.length)),
    keys: key.dictionary,
    eventTs: gatherAt(data.eventTs, rows, keep),
    ...(data.createdTs && createdField !== undefined
      ? { createdTs: gatherAt(data.createdTs, rows, keep) }
      : {}),
    positions: gather(rows, keep, new Uint32Array(keep.length)),
    columns,
  };
  return { input, quarantined: quarantinedRows(data, rows, rejects) };
}

// ---------------------------------------------------------------------------------------------
// Row-level checks

function checkMalformed(data: SourceData, rows: Uint32Array, rejects: Rejections): void {
  // Optional: only the CSV reader reports rows it could not split into fields.
  const malformed = (data as { malformed?: ReadonlyMap<number, string> }).malformed;
  if (!malformed || malformed.size === 0) return;
  for (let i = 0; i < rows.length; i++) {
    const reason = malformed.get(rows[i]);
    if (reason !== undefined) rejects.add(i, `${R.malformed}: ${reason}`);
  }
}

/**
 * Event or created time of each row (`times`, by source position; `field` undefined: the static
 * timestamp) must lie in [1900, 2200). NaN means missing or unparseable: the raw value (decoded only
 * then) tells which.
 */
function checkTime(
  times: Float64Array,
  field: string | undefined,
  missingReason: string,
  data: SourceData,
  rows: Uint32Array,
  rejects: Rejections,
): void {
  const label = field === undefined ? 'static timestamp' : `column ${JSON.stringify(field)}`;
  let raw: RawColumn | undefined;
  for (let i = 0; i < rows.length; i++) {
    const p = rows[i];
    const t = times[p];
    if (isUsableTime(t)) continue;
    if (!Number.isNaN(t)) {
      rejects.add(
        i,
        `${R.timestampOutOfRange}: ${label} = ${formatTs(t)} is outside [1900-01-01, 2200-01-01)`,
      );
      continue;
    }
    if (field !== undefined) raw ??= data.column(field);
    const value = raw === undefined ? null : rawValue(raw, p);
    if (value === null || (typeof value === 'string' && value.trim() === '')) {
      rejects.add(i, `${missingReason}: ${label} is null or empty`);
    } else {
      rejects.add(i, `${R.wrongType}: ${label} value ${describe(value)} is not an ISO-8601 timestamp`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Entity keys

/**
 * Entity key per row. Each key column is first mapped to dense local codes, then columns are
 * combined pairwise on integers (a*|B|+b), so strings are built once per distinct key, not per row.
 */
function buildEntityKeys(
  view: FeatureViewDefinition,
  data: SourceData,
  rows: Uint32Array,
  rejects: Rejections,
  encoding: KeyEncoding,
): KeyCodes {
  let key: KeyCodes | undefined;
  for (const entity of view.entities) {
    const spec = view.entityColumns?.[entity.name] ?? entity.joinKey;
    const columns = typeof spec === 'string' ? [spec] : spec;
    let entityKey: KeyCodes | undefined;
    for (const column of columns) {
      const part = encodeKeyCodes(
        keyPart(data.column(column), column, rows, (i, reason) => rejects.add(i, reason)),
        encoding,
      );
      entityKey = entityKey === undefined ? part : appendKeyPart(entityKey, part);
    }
    if (entityKey === undefined)
      throw new Error(`feature view "${view.name}": entity "${entity.name}" has no key column`);
    key = key === undefined ? entityKey : appendEntityKey(key, entityKey);
  }
  if (key === undefined) throw new Error(`feature view "${view.name}" has no entities`);
  const keys = dedupe(key);
  // A key the online table's index cannot hold would fail the chunk: the row is quarantined instead.
  let overLimit: Int32Array | undefined;
  keys.dictionary.forEach((text, code) => {
    const bytes = entityKeyOverLimit(text);
    if (bytes > 0) (overLimit ??= new Int32Array(keys.dictionary.length))[code] = bytes;
  });
  if (overLimit) {
    for (let i = 0; i < rows.length; i++) {
      const code = keys.codes[i];
      if (code >= 0 && overLimit[code] > 0)
        rejects.add(i, `${R.entityKeyTooLong}: ${overLimit[code]} bytes, at most ${MAX_ENTITY_KEY_BYTES}`);
    }
  }
  return keys;
}

/**
 * One key column over `rows` (source positions) as coded text, code -1 where missing; the one rule
 * of how a key value is spelled (strings as they are, numbers `String(v)`, bools `true`/`false`,
 * timestamps ISO), shared by materialization and training-set spines so both build the same keys.
 * `reject` hears why a row has no key (null or blank, inexact int64, non-finite).
 */
export function keyPart(
  raw: RawColumn,
  column: string,
  rows: Uint32Array,
  reject: (row: number, reason: string) => void,
): KeyCodes {
  const codes = new Int32Array(rows.length);
  const dictionary: string[] = [];
  const missing = `${R.missingEntityKey}: column ${JSON.stringify(column)} is null or empty`;
  if (raw.kind === 'string') {
    // Source dictionary code -> local code; -2 = not seen yet, -1 = empty string, -3 = holds NUL.
    const local = new Int32Array(raw.dictionary.length).fill(-2);
    for (let i = 0; i < rows.length; i++) {
      const p = rows[i];
      const s = raw.codes[p];
      let code = s < 0 ? -1 : local[s];
      if (code === -2) {
        const text = raw.dictionary[s];
        code = local[s] = text.trim() === '' ? -1 : text.includes('\0') ? -3 : dictionary.push(text) - 1;
      }
      if (code >= 0 && raw.invalid?.[p] === 1) {
        reject(i, notUtf8(`key column ${JSON.stringify(column)}`));
        code = -1;
      } else if (code === -3) {
        reject(i, withNul(`key column ${JSON.stringify(column)}`));
        code = -1;
      } else if (code < 0) reject(i, missing);
      codes[i] = code;
    }
    return { codes, dictionary };
  }
  // number, bool and timestamp keys: distinct values by a Map, rendered as text once each.
  const byValue = new Map<number, number>();
  for (let i = 0; i < rows.length; i++) {
    const p = rows[i];
    const v = raw.values[p];
    let code = -1;
    if (raw.valid[p] === 0 || Number.isNaN(v)) {
      reject(i, missing);
    } else if (raw.kind === 'number' && raw.inexact?.[p] === 1) {
      reject(i, `${R.inexactInt64}: key column ${JSON.stringify(column)} value ${v}`);
    } else if (!Number.isFinite(v)) {
      reject(i, `${R.nonFinite}: key column ${JSON.stringify(column)} is ${v}`);
    } else {
      code = byValue.get(v) ?? -1;
      if (code < 0) {
        const text =
          raw.kind === 'bool' ? String(v === 1) : raw.kind === 'timestamp' ? formatTs(v) : String(v);
        code = dictionary.push(text) - 1;
        byValue.set(v, code);
      }
    }
    codes[i] = code;
  }
  return { codes, dictionary };
}

/**
 * One code per key text: under the legacy `joined` encoding different tuples can render the same
 * text ('a-b'+'c' vs 'a'+'b-c'). Under `escaped` every text is distinct and this returns `key`.
 */
function dedupe(key: KeyCodes): KeyCodes {
  const byText = new Map<string, number>();
  const remap = new Int32Array(key.dictionary.length);
  const dictionary: string[] = [];
  key.dictionary.forEach((text, code) => {
    let target = byText.get(text);
    if (target === undefined) {
      target = dictionary.push(text) - 1;
      byText.set(text, target);
    }
    remap[code] = target;
  });
  if (dictionary.length === key.dictionary.length) return key;
  const codes = key.codes.map((c) => (c < 0 ? c : remap[c]));
  return { codes, dictionary };
}

// ---------------------------------------------------------------------------------------------
// Casting

/** Outcome of casting one value; the value itself goes to a separate numeric slot. */
const enum Cast {
  Ok = 1,
  Null,
  WrongType,
  NonFinite,
  Inexact,
}

/**
 * Casts a raw column to `type` over the selected rows. Null stays null (valid=0); values that
 * cannot be cast are recorded in `rejects`.
 */
function castColumn(
  raw: RawColumn,
  column: string,
  rows: Uint32Array,
  type: FeatureType,
  allowNonFinite: boolean,
  rejects: Rejections,
): Column {
  const n = rows.length;
  const valid = new Uint8Array(n);
  const name = JSON.stringify(column);
  const reject = (i: number, outcome: Cast, value: unknown): void => {
    if (outcome === Cast.WrongType)
      rejects.add(i, `${R.wrongType}: column ${name} value ${describe(value)} is not ${type}`);
    else if (outcome === Cast.NonFinite)
      rejects.add(i, `${R.nonFinite}: column ${name} is ${describe(value)}`);
    else rejects.add(i, `${R.inexactInt64}: column ${name} value ${describe(value)}`);
  };

  if (type === 'string') {
    const values: (string | null)[] = new Array(n).fill(null);
    // Per source dictionary entry: 0 = not checked yet, 1 = storable, 2 = holds NUL.
    const nul = raw.kind === 'string' ? new Uint8Array(raw.dictionary.length) : undefined;
    const holdsNul = (dictionary: string[], c: number) =>
      (nul![c] ||= dictionary[c].includes('\0') ? 2 : 1) === 2;
    for (let i = 0; i < n; i++) {
      const p = rows[i];
      if (raw.kind === 'string') {
        const c = raw.codes[p];
        if (c >= 0) {
          if (raw.invalid?.[p] === 1) rejects.add(i, notUtf8(`column ${name}`));
          else if (holdsNul(raw.dictionary, c)) rejects.add(i, withNul(`column ${name}`));
          else values[i] = raw.dictionary[c];
        }
      } else if (raw.valid[p] === 1) {
        const v = raw.values[p];
        if (raw.kind === 'number' && raw.inexact?.[p] === 1) reject(i, Cast.Inexact, v);
        else if (raw.kind !== 'bool' && !Number.isFinite(v) && !(raw.kind === 'number' && allowNonFinite))
          reject(i, raw.kind === 'number' ? Cast.NonFinite : Cast.WrongType, v);
        else
          values[i] =
            raw.kind === 'bool' ? String(v === 1) : raw.kind === 'timestamp' ? formatTs(v) : String(v);
      }
      valid[i] = values[i] === null ? 0 : 1;
    }
    return { type, values, valid };
  }

  const values = type === 'bool' ? new Uint8Array(n) : new Float64Array(n);
  if (raw.kind === 'string') {
    // Parse each distinct dictionary entry once; 0 in `outcome` = not parsed yet.
    const outcome = new Uint8Array(raw.dictionary.length);
    const parsed = new Float64Array(raw.dictionary.length);
    for (let i = 0; i < n; i++) {
      const c = raw.codes[rows[i]];
      if (c < 0) continue;
      if (raw.invalid?.[rows[i]] === 1) {
        rejects.add(i, notUtf8(`column ${name}`));
        continue;
      }
      if (outcome[c] === 0) outcome[c] = parseText(raw.dictionary[c], type, allowNonFinite, parsed, c);
      if (outcome[c] === Cast.Ok) {
        values[i] = parsed[c];
        valid[i] = 1;
      } else if (outcome[c] !== Cast.Null) {
        reject(i, outcome[c], raw.dictionary[c]);
      }
    }
    return { type, values, valid };
  }

  for (let i = 0; i < n; i++) {
    const p = rows[i];
    if (raw.valid[p] === 0) continue;
    const v = raw.values[p];
    let outcome: Cast = Cast.Ok;
    if (raw.kind === 'timestamp') {
      // Timestamps only become timestamps: epoch ms is no meaningful int64/float64/bool feature.
      if (type !== 'timestamp') outcome = Cast.WrongType;
      else if (Number.isNaN(v)) continue;
    } else if (type === 'timestamp') {
      outcome = Cast.WrongType;
    } else if (raw.kind === 'bool') {
      // 0/1 is a faithful number and bool.
    } else if (raw.inexact?.[p] === 1) {
      outcome = Cast.Inexact;
    } else if (!Number.isFinite(v)) {
      outcome = type === 'float64' && allowNonFinite ? Cast.Ok : Cast.NonFinite;
    } else if (type === 'int64') {
      outcome = !Number.isInteger(v) ? Cast.WrongType : Number.isSafeInteger(v) ? Cast.Ok : Cast.Inexact;
    } else if (type === 'bool') {
      outcome = v === 0 || v === 1 ? Cast.Ok : Cast.WrongType;
    }
    if (outcome === Cast.Ok) {
      values[i] = v;
      valid[i] = 1;
    } else {
      reject(i, outcome, raw.kind === 'timestamp' ? formatTs(v) : v);
    }
  }
  return { type, values, valid };
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;
const INTEGER = /^[+-]?\d+$/;
const NON_FINITE = /^[+-]?(?:nan|inf|infinity)$/i;
const BOOL_TEXT: Record<string, number> = { true: 1, t: 1, '1': 1, false: 0, f: 0, '0': 0 };

/** Parses one text value (e.g. a CSV field) into `out[slot]`; empty text is null. */
function parseText(
  text: string,
  type: FeatureType,
  allowNonFinite: boolean,
  out: Float64Array,
  slot: number,
): Cast {
  const s = text.trim();
  if (s === '') return Cast.Null;
  switch (type) {
    case 'bool': {
      const b = BOOL_TEXT[s.toLowerCase()];
      if (b === undefined) return Cast.WrongType;
      out[slot] = b;
      return Cast.Ok;
    }
    case 'timestamp': {
      const t = parseIsoTimestamp(s);
      if (Number.isNaN(t)) return Cast.WrongType;
      out[slot] = t;
      return Cast.Ok;
    }
    case 'int64': {
      if (NON_FINITE.test(s)) return Cast.NonFinite;
      if (!INTEGER.test(s)) return Cast.WrongType;
      const v = Number(s);
      if (!Number.isSafeInteger(v)) return Cast.Inexact;
      out[slot] = v;
      return Cast.Ok;
    }
    default: {
      // float64. Number() alone would also accept hex, '' and whitespace; the regex keeps it decimal.
      if (NON_FINITE.test(s)) {
        if (!allowNonFinite) return Cast.NonFinite;
        out[slot] = s.toLowerCase().endsWith('nan') ? NaN : s.startsWith('-') ? -Infinity : Infinity;
        return Cast.Ok;
      }
      if (!DECIMAL.test(s)) return Cast.WrongType;
      const v = Number(s);
      if (!Number.isFinite(v) && !allowNonFinite) return Cast.NonFinite; // overflow, e.g. 1e999
      out[slot] = v;
      return Cast.Ok;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Quarantine and helpers

function quarantinedRows(data: SourceData, rows: Uint32Array, rejects: Rejections): QuarantinedRow[] {
  if (rejects.reasons.size === 0) return [];
  // Decode every column only when some row is quarantined: operators need the whole raw row.
  const columns = data.columnNames.map((name) => [name, data.column(name)] as const);
  const out: QuarantinedRow[] = [];
  for (const [i, reason] of [...rejects.reasons].sort((x, y) => x[0] - y[0])) {
    const position = rows[i];
    const row: Record<string, unknown> = {};
    for (const [name, raw] of columns) row[storable(name)] = jsonSafe(raw, rawValue(raw, position));
    out.push({ position, reason, row });
  }
  return out;
}

/** A raw cell as string/number/boolean/null (timestamps as epoch ms, made ISO by jsonSafe). */
function rawValue(raw: RawColumn, p: number): string | number | boolean | null {
  if (raw.kind === 'string') return raw.codes[p] < 0 ? null : raw.dictionary[raw.codes[p]];
  if (raw.valid[p] === 0) return null;
  return raw.kind === 'bool' ? raw.values[p] === 1 : raw.values[p];
}

const notUtf8 = (what: string) => `${R.invalidText}: ${what} is not valid UTF-8`;
const withNul = (what: string) =>
  `${R.invalidText}: ${what} holds a NUL character, which Postgres cannot store`;

/** Text jsonb can hold: NUL (U+0000) becomes U+FFFD. */
const storable = (text: string) => (text.includes('\0') ? text.replaceAll('\0', '\uFFFD') : text);

function jsonSafe(raw: RawColumn, value: string | number | boolean | null): unknown {
  if (typeof value === 'string') return storable(value);
  if (typeof value !== 'number') return value;
  if (raw.kind === 'timestamp') return formatTs(value);
  return Number.isFinite(value) ? value : String(value); // NaN/Infinity are not JSON
}

function formatTs(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

/** A value for a message: strings quoted (and shortened), numbers as is. */
function describe(value: unknown): string {
  if (typeof value !== 'string') return String(value);
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

function gather<T extends Int32Array | Uint32Array>(source: ArrayLike<number>, keep: Uint32Array, out: T): T {
  for (let k = 0; k < keep.length; k++) out[k] = source[keep[k]];
  return out;
}

/** source[rows[keep[k]]]: event times are indexed by source position, not selection index. */
function gatherAt(source: Float64Array, rows: Uint32Array, keep: Uint32Array): Float64Array {
  const out = new Float64Array(keep.length);
  for (let k = 0; k < keep.length; k++) out[k] = source[rows[keep[k]]];
  return out;
}

/** The rows `keep` (indices into `column`) of a column, in that order. */
export function compactColumn(column: Column, keep: Uint32Array): Column {
  const valid = new Uint8Array(keep.length);
  for (let k = 0; k < keep.length; k++) valid[k] = column.valid[keep[k]];
  const src = column.values;
  let values: Column['values'];
  if (Array.isArray(src)) {
    values = new Array<string | null>(keep.length);
    for (let k = 0; k < keep.length; k++) values[k] = src[keep[k]];
  } else {
    const out = src instanceof Uint8Array ? new Uint8Array(keep.length) : new Float64Array(keep.length);
    for (let k = 0; k < keep.length; k++) out[k] = src[keep[k]];
    values = out;
  }
  return { type: column.type, values, valid };
}
