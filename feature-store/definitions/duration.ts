import { InvalidInputError } from './errors.js';
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Parses durations such as `15m`, `1h`, `24h`, `7d` into milliseconds; rejects anything else. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!match)
    throw new InvalidInputError(
      `invalid duration "${text}": expected a whole number and a unit (ms, s, m, h, d, w), e.g. 24h`,
    );
  const ms = Number(match[1]) * UNIT_MS[match[2]];
  if (ms <= 0 || !Number.isSafeInteger(ms))
    throw new InvalidInputError(`invalid duration "${text}": must be positive`);
  return ms;
}
