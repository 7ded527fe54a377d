/**
 * Sorting a column's finite values, the step most profiles, AUCs and drift tests start from: by
 * counting (integers of a small range), by radix (many values) or by comparison (the rest).
 */
import os from 'node:os';

if (os.endianness() !== 'LE') throw new Error('monitoring/sort.ts reads doubles as little-endian words');

/** Finite values (of the rows `valid` marks 1, when given), sorted ascending (NaN, ±Infinity left out: nulls are counted apart). */
export function finiteSorted(values: Float64Array, valid?: Uint8Array): Float64Array {
  let n = 0;
  let min = Infinity;
  let max = -Infinity;
  let integers = true;
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if ((valid !== undefined && valid[i] !== 1) || !Number.isFinite(v)) continue;
    out[n++] = v;
    if (v < min) min = v;
    if (v > max) max = v;
    // -0 is left to the sort, which orders it before +0 (a count would give it back as +0).
    if (integers && (v !== Math.floor(v) || (v === 0 && 1 / v < 0))) integers = false;
  }
  const sorted = out.subarray(0, n);
  const span = max - min;
  if (integers && n > 0 && span < COUNTING_SORT_RANGE && span <= 4 * n) return countingSort(sorted, min, max);
  return n >= RADIX_SORT_MIN_ROWS ? radixSort(sorted) : sorted.sort();
}

/**
 * From this many values a radix sort beats the comparison sort (2-5x on a training split's columns);
 * below, its four passes over 64k-entry digit counts cost more than they save.
 */
const RADIX_SORT_MIN_ROWS = 1 << 16;
const DIGIT_BITS = 16;
const DIGITS = 1 << DIGIT_BITS;

/**
 * Sorts finite doubles in place as TypedArray#sort does (-0 before +0): each value's bits become an
 * unsigned 64-bit key in the same order (negatives: all bits flipped; others: the sign bit set), then
 * four passes of 16-bit digits, least significant first, skipping a digit every value shares. Reads a
 * double as two 32-bit words, low word first: little-endian hosts (checked at load).
 */
function radixSort(values: Float64Array): Float64Array {
  const n = values.length;
  const words = new Uint32Array(values.buffer, values.byteOffset, 2 * n);
  const counts = new Uint32Array(4 * DIGITS);
  for (let i = 0; i < n; i++) {
    let lo = words[2 * i];
    let hi = words[2 * i + 1];
    if (hi & 0x80000000) {
      lo = ~lo >>> 0;
      hi = ~hi >>> 0;
    } else hi = (hi | 0x80000000) >>> 0;
    words[2 * i] = lo;
    words[2 * i + 1] = hi;
    counts[lo & 0xffff]++;
    counts[DIGITS + (lo >>> 16)]++;
    counts[2 * DIGITS + (hi & 0xffff)]++;
    counts[3 * DIGITS + (hi >>> 16)]++;
  }
  let from: Uint32Array<ArrayBufferLike> = words;
  let to: Uint32Array<ArrayBufferLike> = new Uint32Array(2 * n);
  for (let digit = 0; digit < 4; digit++) {
    const base = digit * DIGITS;
    const word = digit >> 1;
    const shift = (digit & 1) * DIGIT_BITS;
    const first = (from[word] >>> shift) & 0xffff;
    if (counts[base + first] === n) continue;
    let offset = 0;
    for (let d = 0; d < DIGITS; d++) {
      const count = counts[base + d];
      counts[base + d] = offset;
      offset += count;
    }
    for (let i = 0; i < n; i++) {
      const at = counts[base + ((from[2 * i + word] >>> shift) & 0xffff)]++;
      to[2 * at] = from[2 * i];
      to[2 * at + 1] = from[2 * i + 1];
    }
    [from, to] = [to, from];
  }
  for (let i = 0; i < n; i++) {
    const lo = from[2 * i];
    const hi = from[2 * i + 1];
    const negative = (hi & 0x80000000) === 0;
    words[2 * i] = negative ? ~lo : lo;
    words[2 * i + 1] = negative ? ~hi : hi & 0x7fffffff;
  }
  return values;
}

/**
 * Integers spanning fewer values than this (and not many more than there are values) are sorted by
 * counting — counts, hours, weekdays: most model inputs — a few times faster than the comparison sort
 * a profile of many columns spends its time in.
 */
const COUNTING_SORT_RANGE = 1 << 16;

/** Sorts integers in [min, max] in place by counting them. */
function countingSort(values: Float64Array, min: number, max: number): Float64Array {
  const counts = new Uint32Array(max - min + 1);
  for (let i = 0; i < values.length; i++) counts[values[i] - min]++;
  let at = 0;
  for (let k = 0; k < counts.length; k++) {
    values.fill(min + k, at, at + counts[k]);
    at += counts[k];
  }
  return values;
}
