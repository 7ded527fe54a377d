/**
 * How stored entity keys are spelled: the columns of one entity joined with `column`
 * (route = `SFO-LAX`), the entities of a multi-entity view joined with `entity`. Materialization,
 * spines and lookups must agree on it.
 */
export const KEY_SEPARATOR = { column: '-', entity: '|' } as const;

/** Dictionary-coded entity keys: `dictionary[codes[i]]`, code -1 = missing. */
export interface KeyCodes {
  codes: Int32Array;
  dictionary: string[];
}

/**
 * Pairs two coded key columns into `a<separator>b` keys, resolving the text once per distinct pair
 * (no string per row). Missing on either side is missing. Different pairs may render the same text
 * ('a-b'+'c' vs 'a'+'b-c'); callers that need one code per text deduplicate.
 */
export function combineKeyCodes(a: KeyCodes, b: KeyCodes, separator: string): KeyCodes {
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
