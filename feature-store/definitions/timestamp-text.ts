/** The one parser of timestamps written as text, shared by sources, CSV values and the CLI. */

const EPOCH_MS = /^[+-]?\d+$/;
const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(?:(Z)|([+-])(\d{2})(?::?(\d{2}))?)?$/i;
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** 400 Gregorian years, used to move years 0-99 out of Date.UTC's "19xx" interpretation. */
const MS_PER_400_YEARS = 146_097 * 86_400_000;

/**
 * ISO 8601 date or date-time (`T` or space) to epoch ms. Unlike Date.parse, a value without an
 * offset is UTC (never the process's local zone); NaN when not ISO, including impossible dates like
 * 2001-02-30 and years 0-99 are not moved to 19xx.
 */
export function parseIsoTimestamp(text: string): number {
  const m = ISO_TIMESTAMP.exec(text.trim());
  if (!m) return NaN;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > DAYS_IN_MONTH[month - 1] ||
    (month === 2 && day === 29 && !leap)
  ) {
    return NaN;
  }
  if (hour > 23 || minute > 59 || second > 59) return NaN;
  let offsetMin = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = m[11] === undefined ? 0 : Number(m[11]);
    if (oh > 23 || om > 59) return NaN;
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const shift = year < 100 ? 400 : 0;
  const utc =
    Date.UTC(year + shift, month - 1, day, hour, minute, second, ms) - (shift ? MS_PER_400_YEARS : 0);
  return utc - offsetMin * 60_000;
}

/** An event time written as text: an integer of epoch milliseconds, or ISO 8601 as above. */
export function parseTimestampText(text: string): number {
  const s = text.trim();
  return EPOCH_MS.test(s) ? Number(s) : parseIsoTimestamp(s);
}
