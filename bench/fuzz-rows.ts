/**
 * Seeded malformed source rows for bench:fuzz and test/fuzz.test.ts: a CSV file (bytes, so invalid
 * UTF-8 is possible) mixing valid rows with every kind of bad cell — wrong types, NaN/Infinity,
 * null, blank and huge keys, out-of-range and unparseable times, 1 MB strings, NUL characters and
 * invalid UTF-8 — and malformed lines. Each row carries at most one fault, so the generator knows,
 * for each view over the file, which rows must be quarantined and with which reason (the oracle).
 */
import { mulberry32 } from '../models/prng.js';
import { QUARANTINE_REASON as R } from '../feature-store/materialization/row-preparation.js';

export type Rng = () => number;
export { mulberry32 };

export const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)];
export const between = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));

/** Source columns, in file order. */
export const COLUMNS = ['ts', 'airport', 'delay', 'distance', 'destination', 'cancelled'] as const;
export type SourceColumn = (typeof COLUMNS)[number];

/** Valid event times: two chunks of the 7-day grid (2001-01-04 is a boundary), clear of its edges. */
export const START_MS = Date.UTC(2001, 0, 4);
export const END_MS = Date.UTC(2001, 0, 17, 22);
export const SENTINEL = 'SENTINEL';
/** The sentinel's last row: what features.get must answer for it after the fuzzing. */
export const SENTINEL_ROW = {
  ts: END_MS - 3_600_000,
  delay: 42.5,
  distance: 777,
  destination: 'Zürich "Hbf", Gleis 7',
  cancelled: true,
};

/** A cell: text (quoted as needed) or raw bytes written as they are (invalid UTF-8). */
type Cell = string | Buffer;

interface Fault {
  name: string;
  column: SourceColumn | 'row';
  /** The reason's stable prefix (QUARANTINE_REASON). */
  reason: string;
  cell?: (rng: Rng, huge: HugeStrings) => Cell;
}

/** Draws the sizes of huge strings: up to 1 MB, a bounded number of them per file. */
export interface HugeStrings {
  next(rng: Rng, fallback: string): string;
}

const letters = (rng: Rng, n: number) =>
  String.fromCharCode(...Array.from({ length: n }, () => 65 + Math.floor(rng() * 26)));

const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

/** Byte sequences no UTF-8 decoder may accept (overlong, surrogate, past U+10FFFF, cut short, stray). */
const INVALID_UTF8: number[][] = [
  [0xff],
  [0xfe],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xe2, 0x82],
  [0x80],
  [0xf0, 0x9f, 0x98],
];

const FAULTS: Fault[] = [
  { name: 'ts_missing', column: 'ts', reason: R.missingTimestamp, cell: (rng) => pick(rng, ['', '   ']) },
  {
    name: 'ts_unparseable',
    column: 'ts',
    reason: R.wrongType,
    cell: (rng) =>
      pick(rng, [
        'yesterday',
        '2001-02-30T00:00:00Z',
        '2001-01-05T24:00:00Z',
        '2001-13-01',
        '1e12',
        '0x3E8',
        'NaN',
        'Infinity',
        '2001-01-05T10:00:00+99:00',
        '２００１-01-05',
        '+275760-09-13T00:00:00Z',
      ]),
  },
  {
    name: 'ts_out_of_range',
    column: 'ts',
    reason: R.timestampOutOfRange,
    cell: (rng) =>
      pick(rng, [
        '3000-01-01T00:00:00Z',
        '1800-06-01',
        '1899-12-31T23:59:59.999Z',
        '2200-01-01T00:00:00Z',
        '9999-12-31T23:59:59Z',
        '0001-01-01T00:00:00Z',
        '99999999999999999999',
        '-99999999999999',
        '9'.repeat(400),
      ]),
  },
  {
    name: 'ts_huge',
    column: 'ts',
    reason: R.wrongType,
    cell: (rng, huge) => huge.next(rng, 'T'.repeat(5000)),
  },
  {
    name: 'key_missing',
    column: 'airport',
    reason: R.missingEntityKey,
    cell: (rng) => pick(rng, ['', '  ', '""', '\t']),
  },
  {
    name: 'key_huge',
    column: 'airport',
    reason: R.entityKeyTooLong,
    // 513 × 'é' is 1026 UTF-8 bytes in 513 characters: the limit is on bytes. Random letters do
    // not compress: Postgres cannot index them past ~2.7 kB, as it could a run of one letter.
    cell: (rng, huge) => {
      const r = rng();
      if (r < 0.3) return 'é'.repeat(513);
      if (r < 0.8) return letters(rng, between(rng, 1025, 20_000));
      return huge.next(rng, letters(rng, 3000));
    },
  },
  {
    name: 'key_nul',
    column: 'airport',
    reason: R.invalidText,
    cell: (rng) => pick(rng, ['S\0FO', '\0', 'SFO\0']),
  },
  {
    name: 'key_invalid_utf8',
    column: 'airport',
    reason: R.invalidText,
    cell: (rng) => bytes('S', pick(rng, INVALID_UTF8), 'O'),
  },
  {
    name: 'delay_non_finite',
    column: 'delay',
    reason: R.nonFinite,
    cell: (rng) => pick(rng, ['NaN', 'nan', 'Infinity', '-Infinity', 'inf', '-inf', '1e999', '-1e400']),
  },
  {
    name: 'delay_wrong_type',
    column: 'delay',
    reason: R.wrongType,
    cell: (rng) =>
      pick(rng, [
        'abc',
        '0x1F',
        '1_000',
        '12 34',
        'true',
        '１２',
        '1.2.3',
        '--1',
        'e5',
        '"1,5"',
        '{}',
        '[1]',
      ]),
  },
  {
    name: 'delay_huge',
    column: 'delay',
    reason: R.wrongType,
    cell: (rng, huge) => huge.next(rng, `1${'x'.repeat(5000)}`),
  },
  {
    name: 'delay_invalid_utf8',
    column: 'delay',
    reason: R.invalidText,
    cell: (rng) => bytes('1', pick(rng, INVALID_UTF8)),
  },
  {
    name: 'distance_fraction',
    column: 'distance',
    reason: R.wrongType,
    cell: (rng) => pick(rng, ['1.5', '1e3', '100.0', '12abc', '7 7']),
  },
  {
    name: 'distance_inexact',
    column: 'distance',
    reason: R.inexactInt64,
    cell: (rng) => pick(rng, ['9007199254740993', '-9007199254740993', '123456789012345678901234567890']),
  },
  {
    name: 'distance_non_finite',
    column: 'distance',
    reason: R.nonFinite,
    cell: (rng) => pick(rng, ['NaN', 'Infinity', '-inf']),
  },
  {
    name: 'destination_nul',
    column: 'destination',
    reason: R.invalidText,
    cell: (rng) => pick(rng, ['L\0AX', '\0', `${'x'.repeat(200)}\0`]),
  },
  {
    name: 'destination_invalid_utf8',
    column: 'destination',
    reason: R.invalidText,
    cell: (rng) => bytes('LA', pick(rng, INVALID_UTF8), 'X'),
  },
  {
    name: 'cancelled_wrong_type',
    column: 'cancelled',
    reason: R.wrongType,
    cell: (rng) => pick(rng, ['yes', '2', 'nope', '-1', 'truee']),
  },
  { name: 'row_few_fields', column: 'row', reason: R.malformed },
  { name: 'row_many_fields', column: 'row', reason: R.malformed },
  { name: 'row_stray_quote', column: 'row', reason: R.malformed },
];

/** The valid rows' keys: plain codes, and keys that need escaping, Unicode and a long (but allowed) one. */
function keyPool(rng: Rng): string[] {
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const codes = Array.from({ length: 30 }, () =>
    Array.from({ length: 3 }, () => letters[Math.floor(rng() * 26)]).join(''),
  );
  return [
    ...new Set(codes),
    'Zürich',
    'a-b',
    'x|y',
    'back\\slash',
    '東京',
    '🛫',
    ' padded ',
    'A,B',
    'quote"d',
    'ü'.repeat(500), // 1000 bytes: under the limit
    '42',
  ];
}

/** What a valid value of each column was, as the stores must hold it. */
export interface TypedRow {
  key: string;
  ts: number;
  delay: number | null;
  distance: number | null;
  destination: string | null;
  cancelled: boolean | null;
}

export interface FuzzRow {
  /** Null: a valid row. */
  fault: Fault | null;
  /** The row's typed values where its time, key and delay are valid (what a window view reads). */
  typed: TypedRow | null;
}

export interface FuzzSource {
  csv: Buffer;
  rows: FuzzRow[];
  /** Rows with a fault, by fault name. */
  faults: Record<string, number>;
  hugeStrings: number;
}

/** Columns each view of the fuzzing reads: a fault elsewhere does not concern it. */
export const VIEW_COLUMNS = {
  plain: COLUMNS,
  window: ['ts', 'airport', 'delay'],
} as const satisfies Record<string, readonly SourceColumn[]>;

/** The reason prefix `row` must be quarantined with by a view reading `columns`; null: written. */
export function expectedReason(row: FuzzRow, columns: readonly SourceColumn[]): string | null {
  const { fault } = row;
  if (!fault) return null;
  return fault.column === 'row' || columns.includes(fault.column) ? fault.reason : null;
}

function quote(text: string): string {
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replaceAll('"', '""')}"` : text;
}

function formatTime(rng: Rng, ms: number): string {
  const iso = new Date(ms).toISOString();
  switch (between(rng, 0, 4)) {
    case 0:
      return iso;
    case 1:
      return String(ms); // epoch ms
    case 2:
      return iso.replace('T', ' ').replace('.000Z', ''); // no zone: UTC
    case 3: {
      // The same instant at +05:30.
      const local = new Date(ms + 330 * 60_000).toISOString().replace('Z', '+05:30');
      return local;
    }
    default:
      return ` ${iso.replace('.000Z', 'Z')} `;
  }
}

/**
 * `rows` rows (plus the sentinel's) from `seed`: about half valid. At most `maxHuge` cells are
 * huge strings (64 KB to 1 MB, some exactly 1 MiB); the rest of those faults use shorter ones.
 */
export function generateSource(opts: { rows: number; seed: number; maxHuge: number }): FuzzSource {
  const rng = mulberry32(opts.seed);
  const pool = keyPool(rng);
  let hugeLeft = opts.maxHuge;
  const huge: HugeStrings = {
    next(r, fallback) {
      if (hugeLeft === 0) return fallback;
      hugeLeft--;
      const size = r() < 0.3 ? 1 << 20 : between(r, 64 << 10, 1 << 20);
      const unit = fallback[0] === '1' ? 'x' : fallback[0];
      return fallback[0] === '1' ? `1${unit.repeat(size - 1)}` : unit.repeat(size);
    },
  };
  const lines: Buffer[] = [Buffer.from(`${COLUMNS.join(',')}\n`)];
  const rows: FuzzRow[] = [];
  const faults: Record<string, number> = {};
  const sentinelAt = new Set(Array.from({ length: 5 }, () => between(rng, 0, opts.rows - 1)));
  for (let i = 0; i < opts.rows; i++) {
    if (sentinelAt.has(i)) {
      // Earlier sentinel rows than its last: the online store must keep the last.
      const ts = between(rng, START_MS, SENTINEL_ROW.ts - 3_600_000);
      const delay = between(rng, -50, 50);
      lines.push(Buffer.from(`${formatTime(rng, ts)},${SENTINEL},${delay},1,SFO,false\n`));
      rows.push({
        fault: null,
        typed: { key: SENTINEL, ts, delay, distance: 1, destination: 'SFO', cancelled: false },
      });
      continue;
    }
    const fault = rng() < 0.5 ? pick(rng, FAULTS) : null;
    const typed: TypedRow = {
      key: pick(rng, pool),
      ts: START_MS + Math.floor(rng() * ((END_MS - START_MS) / 60_000)) * 60_000,
      delay: rng() < 0.05 ? null : Math.round((rng() * 200 - 30) * 4) / 4,
      distance: rng() < 0.05 ? null : rng() < 0.01 ? Number.MAX_SAFE_INTEGER : between(rng, -5, 3000),
      destination:
        rng() < 0.05 ? null : rng() < 0.05 ? pick(rng, ['', 'line\nbreak', 'a,b', '"q"', 'é']) : 'LAX',
      cancelled: rng() < 0.1 ? null : rng() < 0.5,
    };
    if (!fault && rng() < 0.002 && hugeLeft > 0) typed.destination = huge.next(rng, 'D');
    const cells: Record<SourceColumn, Cell> = {
      ts: formatTime(rng, typed.ts),
      airport: quote(typed.key),
      delay:
        typed.delay === null ? '' : pick(rng, [String(typed.delay), ` ${typed.delay} `, signed(typed.delay)]),
      distance: typed.distance === null ? '' : String(typed.distance),
      destination:
        typed.destination === null ? '' : typed.destination === '' ? '""' : quote(typed.destination),
      cancelled:
        typed.cancelled === null
          ? ''
          : pick(rng, typed.cancelled ? ['true', 't', '1', 'TRUE'] : ['false', 'f', '0', 'False']),
    };
    if (fault?.cell) {
      const cell = fault.cell(rng, huge);
      cells[fault.column as SourceColumn] =
        typeof cell === 'string' && !cell.startsWith('"') ? quote(cell) : cell;
    }
    let fields: Cell[] = COLUMNS.map((c) => cells[c]);
    if (fault?.name === 'row_few_fields') fields = fields.slice(0, between(rng, 1, COLUMNS.length - 1));
    if (fault?.name === 'row_many_fields') fields = [...fields, ...Array(between(rng, 1, 3)).fill('extra')];
    if (fault?.name === 'row_stray_quote') fields[4] = '"LAX"x';
    const ending = rng() < 0.1 ? '\r\n' : '\n';
    lines.push(Buffer.concat([...fields.flatMap((f, k) => (k ? [',', f] : [f])), ending].map(toBuffer)));
    if (fault) faults[fault.name] = (faults[fault.name] ?? 0) + 1;
    const windowFine = !fault || !['ts', 'airport', 'delay', 'row'].includes(fault.column);
    rows.push({ fault, typed: windowFine ? typed : null });
  }
  // The sentinel's last row, then one whose quoted field never ends: it runs to the end of the file.
  const s = SENTINEL_ROW;
  lines.push(
    Buffer.from(
      `${new Date(s.ts).toISOString()},${SENTINEL},${s.delay},${s.distance},${quote(s.destination)},${s.cancelled}\n`,
    ),
  );
  rows.push({ fault: null, typed: { key: SENTINEL, ...s } });
  const unterminated = FAULTS.find((f) => f.name === 'row_few_fields')!;
  lines.push(Buffer.from(`${new Date(START_MS).toISOString()},SFO,1,1,"LAX never closed\n`));
  rows.push({ fault: { ...unterminated, name: 'row_unterminated_quote' }, typed: null });
  faults.row_unterminated_quote = 1;
  return { csv: Buffer.concat(lines), rows, faults, hugeStrings: opts.maxHuge - hugeLeft };
}

const signed = (x: number) => (x < 0 ? String(x) : `+${x}`);
const toBuffer = (cell: Cell) => (typeof cell === 'string' ? Buffer.from(cell) : cell);
