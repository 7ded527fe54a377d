import { parseIsoTimestamp } from '../feature-store/requests.js';

/** A CLI time option: strict ISO 8601, a time without an offset is UTC (never the local zone). */
export function parseTimeOption(label: string, value: string): number {
  const ms = parseIsoTimestamp(value);
  if (!Number.isFinite(ms)) throw new Error(`invalid ${label} "${value}": expected an ISO 8601 time`);
  return ms;
}
