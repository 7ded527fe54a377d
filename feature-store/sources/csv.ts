/**
 * CSV files (RFC 4180: quoted fields, doubled quotes, CRLF or LF line ends, a header row). Every
 * column is read as dictionary-encoded text; casting to the declared feature types happens later.
 *
 * Conventions: an unquoted empty field is null (code -1), a quoted empty field ("") is the empty
 * string; blank lines are skipped and take no position. Rows with the wrong number of fields or
 * broken quoting are kept (missing fields null, extra fields dropped) and listed in `malformed`.
 * A field whose bytes are not valid UTF-8 is decoded with U+FFFD in their place and flagged in its
 * column's `invalid` (row preparation quarantines it wherever a view reads it).
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
  let text: string;
  let invalidAt: number[] = [];
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    // Some bytes are not UTF-8: find where their replacement characters land in the text.
    text = new TextDecoder().decode(bytes);
    invalidAt = invalidUtf8Offsets(bytes);
  }
  const parsed = parseCsv(text, delimiter.charCodeAt(0), label, invalidAt);
  const { names, codes, dictionaries, rows } = parsed;
  return makeColumnSet(
    label,
    rows,
    names,
    (name) => {
      const k = names.indexOf(name);
      const invalidRows = parsed.invalid.get(k);
      let invalid: Uint8Array | undefined;
      if (invalidRows) {
        invalid = new Uint8Array(rows);
        for (const row of invalidRows) invalid[row] = 1;
      }
      return {
        kind: 'string',
        codes: codes[k].slice(0, rows),
        dictionary: dictionaries[k].values,
        ...(invalid ? { invalid } : {}),
      };
    },
    parsed.malformed,
  );
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Where (UTF-16 offsets into the decoded text) a WHATWG UTF-8 decoder — TextDecoder — writes a
 * U+FFFD for bytes that are not UTF-8: one per maximal ill-formed subsequence, a leading BOM dropped.
 * A U+FFFD written as valid bytes in the file (EF BF BD) is not among them.
 */
export function invalidUtf8Offsets(bytes: Uint8Array): number[] {
  const out: number[] = [];
  const n = bytes.length;
  let i = n >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  let unit = 0;
  while (i < n) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      unit++;
      continue;
    }
    let need: number;
    let lower = 0x80;
    let upper = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lower = 0xa0;
      if (b === 0xed) upper = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lower = 0x90;
      if (b === 0xf4) upper = 0x8f;
    } else {
      out.push(unit++);
      i++;
      continue;
    }
    let j = i + 1;
    let seen = 0;
    while (seen < need && j < n && bytes[j] >= lower && bytes[j] <= upper) {
      lower = 0x80;
      upper = 0xbf;
      j++;
      seen++;
    }
    if (seen < need) {
      // A cut-short sequence: one U+FFFD for it; the byte that broke it starts the next one.
      out.push(unit++);
    } else unit += need === 3 ? 2 : 1;
    i = j;
  }
  return out;
}

interface ParsedCsv {
  names: string[];
  /** Per column, with spare capacity beyond `rows`. */
  codes: Int32Array[];
  dictionaries: StringDictionary[];
  rows: number;
  malformed: Map<number, string>;
  /** Column index → rows whose field there held bytes that are not UTF-8. */
  invalid: Map<number, number[]>;
}

/**
 * One pass over the text, writing each field straight into its column's codes: the only per-field
 * allocation is the field's string itself.
 */
function parseCsv(text: string, delim: number, label: string, invalidAt: number[]): ParsedCsv {
  const len = text.length;
  const malformed = new Map<number, string>();
  const invalid = new Map<number, number[]>();
  let nextInvalid = 0; // index into invalidAt: offsets before the current field are behind it
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
    if (nextInvalid < invalidAt.length && invalidAt[nextInvalid] < pos) {
      // Replacement characters within this field: its bytes were not UTF-8.
      while (nextInvalid < invalidAt.length && invalidAt[nextInvalid] < pos) nextInvalid++;
      if (!inHeader && k < ncols) {
        let list = invalid.get(k);
        if (!list) invalid.set(k, (list = []));
        list.push(rows);
      }
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
  return { names, codes, dictionaries, rows, malformed, invalid };
}
