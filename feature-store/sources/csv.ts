/**
 * CSV files (RFC 4180: quoted fields, doubled quotes, CRLF or LF line ends, a header row). Every
 * column is read as dictionary-encoded text; casting to the declared feature types happens later.
 *
 * Conventions: an unquoted empty field is null (code -1), a quoted empty field ("") is the empty
 * string; blank lines are skipped and take no position. Rows with the wrong number of fields or
 * broken quoting are kept (missing fields null, extra fields dropped) and listed in `malformed`.
 */
import { makeColumnSet, StringDictionary, type ColumnSet } from './columnar.js';
import { SourceError } from './source-data.js';

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/** Parses CSV bytes (UTF-8; a BOM is dropped); `label` (the resolved path) names the file in errors. */
export function readCsvColumns(bytes: Uint8Array, label: string, delimiter = ','): ColumnSet {
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new SourceError('SOURCE_SCHEMA', `invalid csv delimiter ${JSON.stringify(delimiter)} for ${label}`);
  }
  const parsed = parseCsv(new TextDecoder().decode(bytes), delimiter.charCodeAt(0), label);
  const { names, codes, dictionaries, rows } = parsed;
  return makeColumnSet(
    label,
    rows,
    names,
    (name) => {
      const k = names.indexOf(name);
      return { kind: 'string', codes: codes[k].slice(0, rows), dictionary: dictionaries[k].values };
    },
    parsed.malformed,
  );
}

interface ParsedCsv {
  names: string[];
  /** Per column, with spare capacity beyond `rows`. */
  codes: Int32Array[];
  dictionaries: StringDictionary[];
  rows: number;
  malformed: Map<number, string>;
}

/**
 * One pass over the text, writing each field straight into its column's codes: the only per-field
 * allocation is the field's string itself.
 */
function parseCsv(text: string, delim: number, label: string): ParsedCsv {
  const len = text.length;
  const malformed = new Map<number, string>();
  const names: string[] = [];
  let codes: Int32Array[] = [];
  let dictionaries: StringDictionary[] = [];
  let ncols = 0;
  let inHeader = true;
  let rows = 0;
  let capacity = 0;

  let pos = 0;
  let k = 0; // field index within the current record
  let issue: string | undefined;
  let blank = false; // the record so far is a single unquoted empty field
  while (pos < len) {
    if (k === 0 && !inHeader && rows === capacity) {
      capacity = Math.max(1024, capacity * 2);
      codes = codes.map((c) => {
        const grown = new Int32Array(capacity);
        grown.set(c);
        return grown;
      });
    }
    // --- one field
    let value: string | null;
    let c = text.charCodeAt(pos);
    if (c === QUOTE) {
      value = '';
      let segment = ++pos;
      for (;;) {
        const q = text.indexOf('"', pos);
        if (q < 0) {
          value += text.slice(segment);
          pos = len;
          issue ??= `unterminated quoted field ${k + 1}`;
          break;
        }
        if (text.charCodeAt(q + 1) === QUOTE) {
          value += text.slice(segment, q + 1); // keep one quote of the doubled pair
          pos = segment = q + 2;
          continue;
        }
        value += text.slice(segment, q);
        pos = q + 1;
        break;
      }
      const stray = pos;
      while (pos < len && (c = text.charCodeAt(pos)) !== delim && c !== LF && c !== CR) pos++;
      if (pos > stray) {
        issue ??= `unexpected text after closing quote in field ${k + 1}`;
        value += text.slice(stray, pos);
      }
      blank = false;
    } else {
      const start = pos;
      while (pos < len && (c = text.charCodeAt(pos)) !== delim && c !== LF && c !== CR) pos++;
      value = pos > start ? text.slice(start, pos) : null;
      blank = k === 0 && value === null;
    }
    if (inHeader) names.push(value ?? '');
    else if (k < ncols) codes[k][rows] = value === null ? -1 : dictionaries[k].code(value);
    k++;
    // --- terminator: another field, or the end of the record
    if (pos < len && text.charCodeAt(pos) === delim) {
      pos++;
      if (pos < len) continue;
      // "a,b,<EOF>": the record ends with one more empty field
      if (inHeader) names.push('');
      else if (k < ncols) codes[k][rows] = -1;
      k++;
      blank = false;
    } else if (pos < len) {
      pos += text.charCodeAt(pos) === CR && text.charCodeAt(pos + 1) === LF ? 2 : 1;
    }
    // --- end of record
    if (inHeader) {
      if (issue) throw new SourceError('SOURCE_CORRUPT', `cannot read csv file ${label}: header: ${issue}`);
      inHeader = false;
      ncols = names.length;
      codes = names.map(() => new Int32Array(0));
      dictionaries = names.map(() => new StringDictionary());
    } else if (!(blank && k === 1)) {
      for (let j = k; j < ncols; j++) codes[j][rows] = -1;
      if (issue) malformed.set(rows, issue);
      else if (k !== ncols) malformed.set(rows, `expected ${ncols} fields, found ${k}`);
      rows++;
    }
    k = 0;
    issue = undefined;
    blank = false;
  }
  return { names, codes, dictionaries, rows, malformed };
}
