/**
 * How stored entity keys are spelled. The key parts of one entity (its key columns: route =
 * origin, destination) are joined with '-', the entities of a multi-entity view with '|'.
 * Materialization, spines, historical lookups and serving all build keys here, so they agree.
 *
 * Two encodings exist. `escaped` (every version registered now) escapes '\', '-' and '|' inside a
 * part with a backslash, so ('a-b', 'c') and ('a', 'b-c') stay different keys: `a\-b-c` and
 * `a-b\-c`. `joined`, the original encoding, joined parts as they were and is kept only so versions
 * written with it stay readable; it cannot tell those two tuples apart.
 */
export type KeyEncoding = 'joined' | 'escaped';

/** The encoding of every newly registered feature-view version. */
export const CURRENT_KEY_ENCODING: KeyEncoding = 'escaped';

/**
 * The longest stored key, in UTF-8 bytes. Online tables index keys in a B-tree, whose entries
 * Postgres caps near 2.7 kB: a longer key would fail the whole chunk's write. Materialization
 * quarantines rows with a longer key; lookups refuse one (it cannot be stored).
 */
export const MAX_ENTITY_KEY_BYTES = 1024;

/** UTF-8 length of `text` (an unpaired surrogate counts as the 3 bytes of the U+FFFD it becomes). */
export function utf8Length(text: string): number {
  let bytes = text.length;
  // Each code unit is at least one byte: only non-ASCII ones add to the length.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a pair: 4 bytes for 2 units
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/** The UTF-8 length of a stored key over the limit, or 0 when it is within it. */
export function entityKeyOverLimit(key: string): number {
  if (key.length * 3 <= MAX_ENTITY_KEY_BYTES) return 0;
  const bytes = utf8Length(key);
  return bytes > MAX_ENTITY_KEY_BYTES ? bytes : 0;
}

const COLUMN_SEPARATOR = '-';
const ENTITY_SEPARATOR = '|';
const SPECIAL = /[\\|-]/g;

/** One key part as stored. Parts without a special character (the usual case) are stored as they are. */
export function encodeKeyPart(text: string, encoding: KeyEncoding): string {
  if (encoding === 'joined') return text;
  SPECIAL.lastIndex = 0;
  return SPECIAL.test(text) ? text.replace(SPECIAL, '\\$&') : text;
}

/** The stored key of one entity from the texts of its key parts, in key-column order. */
export function encodeEntityKey(parts: readonly string[], encoding: KeyEncoding): string {
  return parts.map((part) => encodeKeyPart(part, encoding)).join(COLUMN_SEPARATOR);
}

/** The stored key of a view's row from its entities' keys, in the view's entity order. */
export function joinEntityKeys(keys: readonly string[]): string {
  return keys.join(ENTITY_SEPARATOR);
}

/** Dictionary-coded entity keys: `dictionary[codes[i]]`, code -1 = missing. */
export interface KeyCodes {
  codes: Int32Array;
  dictionary: string[];
}

/** A coded key column whose texts are raw values, as one stored key part (encoded once per distinct value). */
export function encodeKeyCodes(part: KeyCodes, encoding: KeyEncoding): KeyCodes {
  if (encoding === 'joined') return part;
  return { codes: part.codes, dictionary: part.dictionary.map((text) => encodeKeyPart(text, encoding)) };
}

/** The next key column of one entity appended to the key built so far. */
export const appendKeyPart = (key: KeyCodes, part: KeyCodes) => combineKeyCodes(key, part, COLUMN_SEPARATOR);

/** The next entity of a view appended to the key built so far. */
export const appendEntityKey = (key: KeyCodes, entity: KeyCodes) =>
  combineKeyCodes(key, entity, ENTITY_SEPARATOR);

/**
 * Pairs two coded key columns into `a<separator>b` keys, resolving the text once per distinct pair
 * (no string per row). Missing on either side is missing. Under the `joined` encoding different
 * pairs may render the same text; callers that need one code per text deduplicate.
 */
function combineKeyCodes(a: KeyCodes, b: KeyCodes, separator: string): KeyCodes {
  // Codes are < rows, so x * width + y stays an exact integer for any realistic input.
  const width = b.dictionary.length + 1;
  const byPair = new Map<number, number>();
  const codes = new Int32Array(a.codes.length);
  const dictionary: string[] = [];
  for (let i = 0; i < codes.length; i++) {
    const x = a.codes[i];
    const y = b.codes[i];
    if (x < 0 || y < 0) {
      codes[i] = -1;
      continue;
    }
    const pair = x * width + y;
    let code = byPair.get(pair);
    if (code === undefined) {
      code = dictionary.push(a.dictionary[x] + separator + b.dictionary[y]) - 1;
      byPair.set(pair, code);
    }
    codes[i] = code;
  }
  return { codes, dictionary };
}
