import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { projectRows } from '../feature-store/materialization/plain-projection.js';
import { prepareRows, QUARANTINE_REASON } from '../feature-store/materialization/row-preparation.js';
import { parseIsoTimestamp } from '../feature-store/definitions/timestamp-text.js';
import type { RawColumn, SourceData } from '../feature-store/sources/source-data.js';
import type {
  EntityDefinition,
  FeatureViewDefinition,
  TimeRange,
} from '../feature-store/definitions/types.js';
import { featureFields } from '../feature-store/definitions/view-schema.js';

type Cell = string | number | boolean | null;

/** A hand-built SourceData: arrays of strings become dictionary columns, numbers number columns. */
function source(
  columns: Record<string, Cell[] | RawColumn>,
  options: { timestampField?: string; malformed?: Map<number, string> } = {},
): SourceData & { malformed?: Map<number, string> } {
  const raw: Record<string, RawColumn> = {};
  for (const [name, cells] of Object.entries(columns))
    raw[name] = Array.isArray(cells) ? encode(cells) : cells;
  const length =
    Object.values(columns).map((c) =>
      Array.isArray(c) ? c.length : c.kind === 'string' ? c.codes.length : c.values.length,
    )[0] ?? 0;
  const tsField = options.timestampField ?? 'ts';
  const eventTs = new Float64Array(length);
  const tsCells = columns[tsField];
  for (let i = 0; i < length; i++) {
    const v = Array.isArray(tsCells) ? tsCells[i] : null;
    eventTs[i] = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
  }
  return {
    label: 'test',
    length,
    columnNames: Object.keys(columns),
    column(name) {
      const c = raw[name];
      if (!c) throw new Error(`no column ${name}`);
      return c;
    },
    eventTs,
    select(range: TimeRange, includeUntimed?: boolean) {
      const all = [...Array(length).keys()];
      const timed = all
        .filter((i) => eventTs[i] >= range.startMs && eventTs[i] < range.endMs)
        .sort((a, b) => eventTs[a] - eventTs[b] || a - b);
      const untimed = includeUntimed
        ? all.filter((i) => !(eventTs[i] >= Date.UTC(1900, 0, 1) && eventTs[i] < Date.UTC(2200, 0, 1)))
        : [];
      return Uint32Array.from([...timed, ...untimed]);
    },
    malformed: options.malformed,
  };
}

function encode(cells: Cell[]): RawColumn {
  if (cells.some((c) => typeof c === 'string')) {
    const dictionary: string[] = [];
    const codes = Int32Array.from(cells, (c) => {
      if (c === null) return -1;
      const text = String(c);
      const at = dictionary.indexOf(text);
      return at >= 0 ? at : dictionary.push(text) - 1;
    });
    return { kind: 'string', codes, dictionary };
  }
  const valid = Uint8Array.from(cells, (c) => (c === null ? 0 : 1));
  if (cells.some((c) => typeof c === 'boolean')) {
    return { kind: 'bool', values: Uint8Array.from(cells, (c) => (c ? 1 : 0)), valid };
  }
  return { kind: 'number', values: Float64Array.from(cells, (c) => (c === null ? NaN : Number(c))), valid };
}

const airport: EntityDefinition = { kind: 'entity', name: 'airport', joinKey: 'airport' };
const ALL: TimeRange = { startMs: Date.UTC(1900, 0, 1), endMs: Date.UTC(2200, 0, 1) };

function plainView(features: FeatureViewDefinition['features'], extra: Partial<FeatureViewDefinition> = {}) {
  return {
    kind: 'featureView',
    name: 'v',
    entities: [airport],
    source: { kind: 'csv', path: 'x.csv', timestampField: 'ts' },
    features,
    ...extra,
  } as FeatureViewDefinition;
}

/** Runs preparation over every row (untimed included) and checks the accounting invariant. */
function prepare(view: FeatureViewDefinition, data: SourceData) {
  const rows = data.select(ALL, true);
  const result = prepareRows(view, data, rows, 'escaped');
  const seen = [...result.input.positions, ...result.quarantined.map((q) => q.position)].sort(
    (a, b) => a - b,
  );
  assert.deepEqual(
    seen,
    [...rows].sort((a, b) => a - b),
    'every selected row is output or quarantined, once',
  );
  return { ...result, reasons: Object.fromEntries(result.quarantined.map((q) => [q.position, q.reason])) };
}

const T = (h: number) => `2024-01-01T${String(h).padStart(2, '0')}:00:00Z`;

describe('prepareRows: plain views', () => {
  test('casts features, keeps nulls as null, keys by join key, projects in declared order', () => {
    const data = source({
      ts: [T(1), T(0), T(2)],
      airport: ['ATL', 'JFK', 'ATL'],
      delay: ['1.5', '', '-3'],
      flights: ['10', '20', null],
      late: ['TRUE', 'f', '1'],
      dep: ['2024-01-01T00:30', '2024-01-01 01:00:00+01:00', null],
      name: [1, 2, 3],
    });
    const view = plainView({
      name: 'string',
      delay: 'float64',
      flights: { type: 'int64' },
      late: 'bool',
      departure: { type: 'timestamp', column: 'dep' },
    });
    const { input, quarantined } = prepare(view, data);
    assert.deepEqual(quarantined, []);
    assert.deepEqual([...input.positions], [1, 0, 2], 'selection (time) order');
    const frame = projectRows(view, input, ALL);
    assert.deepEqual(Object.keys(frame.columns), ['name', 'delay', 'flights', 'late', 'departure']);
    assert.deepEqual(
      featureFields(view).map((f) => `${f.name}:${f.type}`),
      ['name:string', 'delay:float64', 'flights:int64', 'late:bool', 'departure:timestamp'],
    );
    assert.deepEqual(frame.entityKey, ['JFK', 'ATL', 'ATL']);
    assert.deepEqual([...frame.eventTs], [Date.parse(T(0)), Date.parse(T(1)), Date.parse(T(2))]);
    assert.deepEqual(frame.columns.name.values, ['2', '1', '3']);
    assert.deepEqual([...frame.columns.delay.values], [0, 1.5, -3]);
    assert.deepEqual([...frame.columns.delay.valid], [0, 1, 1], 'empty CSV field is null, not an error');
    assert.deepEqual([...frame.columns.flights.valid], [1, 1, 0]);
    assert.deepEqual([...frame.columns.late.values], [0, 1, 1]);
    assert.deepEqual(
      [...frame.columns.departure.values].slice(0, 2),
      [Date.parse('2024-01-01T00:00:00Z'), Date.parse('2024-01-01T00:30:00Z')],
      'no offset means UTC; +01:00 is honoured',
    );
    assert.deepEqual([...frame.columns.departure.valid], [1, 1, 0]);
  });

  test('projection keeps only rows in range', () => {
    const data = source({ ts: [T(0), T(1), T(2)], airport: ['A', 'A', 'A'], x: [1, 2, 3] });
    const view = plainView({ x: 'int64' });
    const { input } = prepare(view, data);
    const frame = projectRows(view, input, { startMs: Date.parse(T(1)), endMs: Date.parse(T(2)) });
    assert.equal(frame.length, 1);
    assert.deepEqual([...frame.columns.x.values], [2]);
  });

  test('entity keys: two columns joined with "-", two entities with "|", in entity order', () => {
    const route: EntityDefinition = { kind: 'entity', name: 'route', joinKey: 'route' };
    const carrier: EntityDefinition = { kind: 'entity', name: 'carrier', joinKey: 'carrier' };
    const data = source({
      ts: [T(0), T(1), T(2), T(3)],
      origin: ['ATL', 'ATL', 'JFK', 'ATL'],
      dest: ['JFK', 'JFK', 'ATL', 'JFK'],
      carrier: ['DL', 'AA', 'DL', 'DL'],
      x: [1, 2, 3, 4],
    });
    const view = plainView(
      { x: 'int64' },
      { entities: [route, carrier], entityColumns: { route: ['origin', 'dest'] } },
    );
    const { input } = prepare(view, data);
    const keys = [...input.keyCodes].map((c) => input.keys[c]);
    assert.deepEqual(keys, ['ATL-JFK|DL', 'ATL-JFK|AA', 'JFK-ATL|DL', 'ATL-JFK|DL']);
    assert.equal(input.keyCodes[0], input.keyCodes[3], 'equal keys share one code');
    assert.equal(new Set(input.keys).size, input.keys.length, 'codes are distinct keys');
  });

  test('numeric key column and a single-string entityColumns override', () => {
    const data = source({ ts: [T(0), T(1)], airport_id: [10397, 12478], x: [1, 2] });
    const view = plainView({ x: 'int64' }, { entityColumns: { airport: 'airport_id' } });
    const { input } = prepare(view, data);
    assert.deepEqual(
      [...input.keyCodes].map((c) => input.keys[c]),
      ['10397', '12478'],
    );
  });

  test('every quarantine reason, with the column named and the raw row kept', () => {
    const n = 17;
    const ts: Cell[] = Array(n).fill(T(5));
    ts[1] = null; // missing timestamp
    ts[2] = 'yesterday'; // unparseable timestamp
    ts[3] = '2250-01-01T00:00:00Z'; // out of range
    const airports: Cell[] = Array(n).fill('ATL');
    airports[4] = null;
    airports[5] = '';
    const f: Cell[] = Array(n).fill('1.5');
    f[6] = 'abc';
    f[7] = 'NaN';
    f[8] = '-Infinity';
    const i64: Cell[] = Array(n).fill('7');
    i64[9] = '1.5';
    i64[10] = '9007199254740993';
    const b: Cell[] = Array(n).fill('true');
    b[11] = 'maybe';
    const when: Cell[] = Array(n).fill('2024-01-01');
    when[12] = '01/02/2024';
    const exact = {
      kind: 'number',
      values: new Float64Array(n).fill(1),
      valid: new Uint8Array(n).fill(1),
      inexact: new Uint8Array(n),
    } as const;
    exact.inexact[13] = 1;
    const free: Cell[] = Array(n).fill('2');
    free[14] = 'NaN'; // allowed by allowNonFinite: not quarantined
    const data = source(
      { ts, airport: airports, f, i64, b, when, exact, free },
      { malformed: new Map([[15, 'expected 8 fields, got 3']]) },
    );
    const view = plainView({
      f: 'float64',
      i64: 'int64',
      b: 'bool',
      when: 'timestamp',
      exact: 'int64',
      free: { type: 'float64', allowNonFinite: true },
    });
    const { input, quarantined, reasons } = prepare(view, data);

    const expected: Record<number, [string, RegExp]> = {
      1: [QUARANTINE_REASON.missingTimestamp, /"ts"/],
      2: [QUARANTINE_REASON.wrongType, /"ts".*"yesterday"/],
      3: [QUARANTINE_REASON.timestampOutOfRange, /"ts".*2250-01-01/],
      4: [QUARANTINE_REASON.missingEntityKey, /"airport"/],
      5: [QUARANTINE_REASON.missingEntityKey, /"airport"/],
      6: [QUARANTINE_REASON.wrongType, /"f".*"abc".*float64/],
      7: [QUARANTINE_REASON.nonFinite, /"f".*NaN/],
      8: [QUARANTINE_REASON.nonFinite, /"f".*-Infinity/],
      9: [QUARANTINE_REASON.wrongType, /"i64".*"1.5".*int64/],
      10: [QUARANTINE_REASON.inexactInt64, /"i64".*9007199254740993/],
      11: [QUARANTINE_REASON.wrongType, /"b".*"maybe".*bool/],
      12: [QUARANTINE_REASON.wrongType, /"when".*"01\/02\/2024".*timestamp/],
      13: [QUARANTINE_REASON.inexactInt64, /"exact"/],
      15: [QUARANTINE_REASON.malformed, /expected 8 fields/],
    };
    assert.deepEqual(Object.keys(reasons).map(Number), Object.keys(expected).map(Number));
    for (const [position, [prefix, detail]] of Object.entries(expected)) {
      assert.ok(reasons[+position].startsWith(prefix), `row ${position}: ${reasons[+position]}`);
      assert.match(reasons[+position], detail);
    }
    assert.equal(input.length, n - Object.keys(expected).length);
    const freeAt = [...input.positions].indexOf(14);
    assert.ok(
      Number.isNaN(input.columns.free.values[freeAt] as number) && input.columns.free.valid[freeAt] === 1,
    );

    const row6 = quarantined.find((q) => q.position === 6)!.row;
    assert.deepEqual(row6, {
      ts: T(5),
      airport: 'ATL',
      f: 'abc',
      i64: '7',
      b: 'true',
      when: '2024-01-01',
      exact: 1,
      free: '2',
    });
    assert.doesNotThrow(() => JSON.stringify(quarantined));
  });

  test('text Postgres cannot store and keys its index cannot hold are quarantined, never written (fuzzing)', () => {
    // Found by bench:fuzz: a NUL in a key or string feature failed the chunk's COPY on every retry,
    // a key over ~2.7 kB failed the online index, and bytes that were not UTF-8 were stored as U+FFFD.
    const n = 8;
    const ts: Cell[] = Array(n).fill(T(5));
    const airports: Cell[] = [
      'ATL',
      'A\0TL',
      'é'.repeat(513),
      'é'.repeat(512),
      'ATL',
      'ATL',
      'ATL',
      'K'.repeat(5000),
    ];
    const name: Cell[] = ['x', 'x', 'x', 'x', 'a\0b', 'x', 'x', 'x'];
    const f: Cell[] = ['1', '1', '1', '1', '1', '1', '2', '1'];
    const data = source({ ts, airport: airports, name, f });
    // As a reader flags cells whose bytes were not UTF-8 (decoded with U+FFFD in their place).
    const nameColumn = data.column('name') as Extract<RawColumn, { kind: 'string' }>;
    nameColumn.invalid = Uint8Array.from({ length: n }, (_, i) => (i === 5 ? 1 : 0));
    const fColumn = data.column('f') as Extract<RawColumn, { kind: 'string' }>;
    fColumn.invalid = Uint8Array.from({ length: n }, (_, i) => (i === 6 ? 1 : 0));
    const { input, quarantined, reasons } = prepare(plainView({ name: 'string', f: 'float64' }), data);
    const R = QUARANTINE_REASON;
    assert.deepEqual(reasons, {
      1: `${R.invalidText}: key column "airport" holds a NUL character, which Postgres cannot store`,
      2: `${R.entityKeyTooLong}: 1026 bytes, at most 1024`,
      4: `${R.invalidText}: column "name" holds a NUL character, which Postgres cannot store`,
      5: `${R.invalidText}: column "name" is not valid UTF-8`,
      6: `${R.invalidText}: column "f" is not valid UTF-8`,
      7: `${R.entityKeyTooLong}: 5000 bytes, at most 1024`,
    });
    assert.deepEqual([...input.positions], [0, 3], '1024 bytes is within the limit');
    assert.deepEqual(
      input.keys.filter((_, code) => [...input.keyCodes].includes(code)).map((k) => k.length),
      [3, 512],
    );
    // The raw rows are kept for inspection, with NUL as U+FFFD: jsonb holds no NUL.
    assert.equal(quarantined.find((q) => q.position === 1)!.row.airport, 'A\uFFFDTL');
    assert.equal(quarantined.find((q) => q.position === 4)!.row.name, 'a\uFFFDb');
  });

  test('number columns: NaN, fractions for int64, 0/1 only for bool', () => {
    const data = source({
      ts: [T(0), T(1), T(2), T(3), T(4)],
      airport: ['A', 'A', 'A', 'A', 'A'],
      x: [1, NaN, 2.5, 3, Infinity],
      flag: [1, 0, 1, 2, 0],
    });
    const view = plainView({ x: 'int64', flag: 'bool' });
    const { reasons, quarantined } = prepare(view, data);
    assert.match(reasons[1], /^non-finite value: column "x" is NaN/);
    assert.match(reasons[2], /^wrong type: column "x" value 2.5 is not int64/);
    assert.match(reasons[3], /^wrong type: column "flag" value 2 is not bool/);
    assert.match(reasons[4], /^non-finite value/);
    assert.equal(quarantined.find((q) => q.position === 4)!.row.x, 'Infinity', 'JSON-safe');
  });

  test('bool accepts true/false/1/0/t/f in any case', () => {
    const texts = ['true', 'FALSE', 'T', 'f', '1', '0', ' True '];
    const data = source({ ts: texts.map((_, i) => T(i)), airport: texts.map(() => 'A'), b: texts });
    const { input, quarantined } = prepare(plainView({ b: 'bool' }), data);
    assert.deepEqual(quarantined, []);
    assert.deepEqual([...input.columns.b.values], [1, 0, 1, 0, 1, 0, 1]);
  });

  test('the first failing check wins: timestamp before key before values', () => {
    const data = source({ ts: [null], airport: [null], x: ['abc'] });
    const { reasons } = prepare(plainView({ x: 'float64' }), data);
    assert.match(reasons[0], /^missing timestamp/);
  });

  test('an empty selection gives empty output', () => {
    const data = source({ ts: [T(0)], airport: ['A'], x: [1] });
    const { input, quarantined } = prepareRows(
      plainView({ x: 'int64' }),
      data,
      new Uint32Array(0),
      'escaped',
    );
    assert.equal(input.length, 0);
    assert.deepEqual(quarantined, []);
  });
});

describe('prepareRows: window views', () => {
  test('aggregation columns are cast to float64 by source column; strings with Number semantics', () => {
    const data = source({
      ts: [T(0), T(1), T(2), T(3)],
      airport: ['A', 'A', 'A', 'A'],
      delay: ['5', '', 'abc', '1e1'],
    });
    const view = {
      kind: 'featureView',
      name: 'w',
      entities: [airport],
      source: { kind: 'csv', path: 'x.csv', timestampField: 'ts' },
      transform: {
        kind: 'window',
        hop: '1h',
        windows: ['1h'],
        aggregations: [
          { name: 'n', fn: 'count' },
          { name: 'mean_delay', fn: 'mean', column: 'delay' },
          { name: 'max_delay', fn: 'max', column: 'delay' },
        ],
      },
    } as FeatureViewDefinition;
    const { input, reasons } = prepare(view, data);
    assert.deepEqual(Object.keys(input.columns), ['delay']);
    assert.equal(input.columns.delay.type, 'float64');
    assert.deepEqual([...input.columns.delay.values], [5, 0, 10]);
    assert.deepEqual([...input.columns.delay.valid], [1, 0, 1]);
    assert.match(reasons[2], /^wrong type: column "delay" value "abc" is not float64/);
  });
});

describe('parseIsoTimestamp', () => {
  test('ISO forms; no offset is UTC; impossible dates and other formats are NaN', () => {
    assert.equal(parseIsoTimestamp('2024-03-01'), Date.UTC(2024, 2, 1));
    assert.equal(parseIsoTimestamp('2024-03-01T12:34'), Date.UTC(2024, 2, 1, 12, 34));
    assert.equal(parseIsoTimestamp('2024-03-01 12:34:56.789'), Date.UTC(2024, 2, 1, 12, 34, 56, 789));
    assert.equal(parseIsoTimestamp('2024-03-01T12:00:00-0530'), Date.UTC(2024, 2, 1, 17, 30));
    assert.equal(parseIsoTimestamp('2024-03-01T12:00:00z'), Date.UTC(2024, 2, 1, 12));
    assert.equal(new Date(parseIsoTimestamp('0050-01-01')).getUTCFullYear(), 50, 'not 1950 as with Date.UTC');
    for (const bad of [
      '2024-02-30',
      '2024-13-01',
      '01/02/2024',
      'yesterday',
      '2024-03-01T25:00',
      '1709251200000',
    ]) {
      assert.ok(Number.isNaN(parseIsoTimestamp(bad)), bad);
    }
  });
});
