import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Bool,
  DateDay,
  Dictionary,
  Float64,
  Int32,
  Int64,
  Table,
  TimestampMicrosecond,
  TimestampMillisecond,
  TimestampNanosecond,
  TimestampSecond,
  Uint64,
  Utf8,
  makeData,
  makeVector,
  tableToIPC,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import * as pq from 'parquet-wasm/esm';
import { initParquetWasm } from '../feature-store/sources/parquet.js';
import pg from 'pg';
import { buildTimeIndex, decodeVector } from '../feature-store/sources/columnar.js';
import { invalidUtf8Offsets } from '../feature-store/sources/csv.js';
import { parseTimestampText } from '../feature-store/definitions/timestamp-text.js';
import {
  clearSourceCache,
  MAX_EVENT_TS,
  MIN_EVENT_TS,
  openSource,
  SourceError,
  type RawColumn,
  type SourceData,
} from '../feature-store/sources/index.js';
import type { SourceDefinition } from '../feature-store/definitions/types.js';
import { openSpine } from '../feature-store/point-in-time/spine.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 0, 1);

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'kaizen-sources-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
  clearSourceCache();
});

const open = (source: SourceDefinition) => openSource(source, { dataRoot: dir });

function strings(col: RawColumn): (string | null)[] {
  assert.equal(col.kind, 'string');
  return Array.from(col.codes, (c) => (c < 0 ? null : col.dictionary[c]));
}

function numbers(col: RawColumn): (number | null)[] {
  assert.ok(col.kind !== 'string');
  return Array.from(col.values, (v, i) => (col.valid[i] ? v : null));
}

async function rejectsWith(promise: Promise<unknown>, code: string, ...fragments: string[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof SourceError, `expected SourceError, got ${String(err)}`);
    assert.equal(err.code, code);
    for (const f of fragments) assert.ok(err.message.includes(f), `"${err.message}" should mention ${f}`);
    return true;
  });
}

/**
 * A table covering every fast-path type, with nulls, in two record batches: slices of one table
 * (second batch starts mid-bitmap) or, with `replaceDictionary`, two tables with their own
 * dictionaries (a replacement dictionary, which only the stream format can carry).
 */
function sampleTable(replaceDictionary = false): Table {
  const table = (ts: (number | null)[], cats: (string | null)[]) =>
    new Table({
      ts: vectorFromArray(ts, new TimestampMillisecond()),
      big: vectorFromArray(twice([1n, 2n ** 60n, -(2n ** 53n) - 1n], ts.length), new Int64()),
      small: vectorFromArray(twice([-5, null, 7], ts.length), new Int32()),
      ratio: vectorFromArray(twice([0.5, NaN, null], ts.length), new Float64()),
      flag: vectorFromArray(twice([true, null, false], ts.length), new Bool()),
      name: vectorFromArray(twice(['é', null, 'b'], ts.length), new Utf8()),
      cat: vectorFromArray(cats, new Dictionary(new Utf8(), new Int32())),
      day: vectorFromArray(twice([new Date(T0), null, new Date(T0 + DAY)], ts.length), new DateDay()),
    });
  if (replaceDictionary) {
    return table([T0, null, T0 + 2 * DAY], ['x', 'y', null]).concat(
      table([T0 + DAY, null, T0 + 3 * DAY], ['y', 'x', null]),
    );
  }
  const whole = table(
    [T0, null, T0 + 2 * DAY, T0 + DAY, null, T0 + 3 * DAY],
    ['x', 'y', null, 'y', 'x', null],
  );
  return whole.slice(0, 3).concat(whole.slice(3));
}

function twice<T>(values: T[], length: number): T[] {
  return length > values.length ? [...values, ...values] : values;
}

function writeParquetFile(file: string, table: Table): void {
  initParquetWasm();
  writeFileSync(file, pq.writeParquet(pq.Table.fromIPCStream(tableToIPC(table, 'stream'))));
}

function assertSample(data: SourceData): void {
  assert.equal(data.length, 6);
  assert.deepEqual(data.columnNames, ['ts', 'big', 'small', 'ratio', 'flag', 'name', 'cat', 'day']);
  assert.deepEqual(Array.from(data.eventTs), [T0, NaN, T0 + 2 * DAY, T0 + DAY, NaN, T0 + 3 * DAY]);
  const big = data.column('big');
  assert.equal(big.kind, 'number');
  assert.deepEqual(
    Array.from(big.values),
    [1n, 2n ** 60n, -(2n ** 53n) - 1n, 1n, 2n ** 60n, -(2n ** 53n) - 1n].map(Number),
  );
  assert.deepEqual(Array.from(big.valid), [1, 1, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(big.inexact!), [0, 1, 1, 0, 1, 1]);
  assert.deepEqual(numbers(data.column('small')), [-5, null, 7, -5, null, 7]);
  assert.deepEqual(numbers(data.column('ratio')), [0.5, NaN, null, 0.5, NaN, null]);
  const flag = data.column('flag');
  assert.equal(flag.kind, 'bool');
  assert.deepEqual(numbers(flag), [1, null, 0, 1, null, 0]);
  assert.deepEqual(strings(data.column('name')), ['é', null, 'b', 'é', null, 'b']);
  const cat = data.column('cat');
  assert.deepEqual(strings(cat), ['x', 'y', null, 'y', 'x', null]);
  assert.equal(cat.kind === 'string' && cat.dictionary.length, 2, 'one dictionary across batches');
  const day = data.column('day');
  assert.equal(day.kind, 'timestamp');
  assert.deepEqual(numbers(day), [T0, null, T0 + DAY, T0, null, T0 + DAY]);
}

describe('arrow and parquet files', () => {
  test('arrow IPC file and stream formats decode every type', async () => {
    writeFileSync(path.join(dir, 'sample-file.arrow'), tableToIPC(sampleTable(), 'file'));
    assertSample(await open({ kind: 'arrow', path: 'sample-file.arrow', timestampField: 'ts' }));
    writeFileSync(path.join(dir, 'sample-stream.arrows'), tableToIPC(sampleTable(true), 'stream'));
    assertSample(await open({ kind: 'arrow', path: 'sample-stream.arrows', timestampField: 'ts' }));
  });

  test('parquet decodes every type', async () => {
    writeParquetFile(path.join(dir, 'sample.parquet'), sampleTable());
    assertSample(await open({ kind: 'parquet', path: 'sample.parquet', timestampField: 'ts' }));
  });

  test('timestamp units, sliced vectors and dictionary codes', () => {
    const ms = [T0 - 1000, null, T0 + 2000];
    for (const type of [new TimestampSecond(), new TimestampMillisecond(), new TimestampMicrosecond()]) {
      const vector = vectorFromArray(ms, type);
      const expected = Array.from({ length: 3 }, (_, i) => (vector.get(i) as number | null) ?? null);
      assert.deepEqual(numbers(decodeVector(vector, 3)), expected, String(type));
    }
    // 1 ns before the epoch floors to -1 ms, like every other unit.
    const ns = makeData({
      type: new TimestampNanosecond(),
      length: 2,
      data: BigInt64Array.of(-1n, 1_500_000n),
    });
    assert.deepEqual(numbers(decodeVector(makeVector(ns), 2)), [-1, 1]);
    // Slices start mid-bitmap: validity and values must honour the offset.
    const values = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? null : i));
    const sliced = vectorFromArray(values, new Int32()).slice(5, 30) as Vector;
    assert.deepEqual(numbers(decodeVector(sliced, 25)), values.slice(5, 30));
    const bools = vectorFromArray(
      values.map((v) => (v === null ? null : v % 2 === 0)),
      new Bool(),
    ).slice(3, 20) as Vector;
    assert.deepEqual(
      numbers(decodeVector(bools, 17)),
      values.slice(3, 20).map((v) => (v === null ? null : v % 2 === 0 ? 1 : 0)),
    );
    const text = vectorFromArray(['b', 'a', null, 'b', 'c'], new Utf8());
    const col = decodeVector(text, 5);
    assert.ok(col.kind === 'string');
    assert.deepEqual(Array.from(col.codes), [0, 1, -1, 0, 2]);
    assert.deepEqual(col.dictionary, ['b', 'a', 'c']);
    const unsigned = decodeVector(vectorFromArray([2n ** 53n, 2n ** 53n + 1n], new Uint64()), 2);
    assert.ok(unsigned.kind === 'number');
    assert.deepEqual(Array.from(unsigned.inexact!), [0, 1]);
  });

  test('static sources stamp every row; missing columns are schema errors', async () => {
    writeFileSync(path.join(dir, 'static.arrow'), tableToIPC(sampleTable(), 'file'));
    const data = await open({ kind: 'arrow', path: 'static.arrow', staticTimestamp: '2020-05-01T00:00:00' });
    assert.ok(data.eventTs.every((t) => t === Date.UTC(2020, 4, 1)));
    const epoch = await open({ kind: 'arrow', path: 'static.arrow' });
    assert.ok(epoch.eventTs.every((t) => t === 0));
    const file = path.join(dir, 'static.arrow');
    await rejectsWith(
      open({ kind: 'arrow', path: 'static.arrow', timestampField: 'when' }),
      'SOURCE_SCHEMA',
      '"when"',
      file,
    );
    assert.throws(
      () => data.column('nope'),
      (err: unknown) =>
        err instanceof SourceError &&
        err.code === 'SOURCE_SCHEMA' &&
        /"nope".*static\.arrow/.test(err.message),
    );
  });

  test('corrupt, truncated and missing files', async () => {
    writeFileSync(path.join(dir, 'random.parquet'), randomBytes(4096));
    writeFileSync(path.join(dir, 'random.arrow'), randomBytes(4096));
    writeFileSync(path.join(dir, 'empty.arrow'), new Uint8Array(0));
    const full = tableToIPC(sampleTable(), 'file');
    writeFileSync(path.join(dir, 'truncated.arrow'), full.subarray(0, full.length >> 1));
    writeParquetFile(path.join(dir, 'whole.parquet'), sampleTable());
    const parquet = readFileSync(path.join(dir, 'whole.parquet'));
    writeFileSync(path.join(dir, 'truncated.parquet'), parquet.subarray(0, parquet.length - 10));
    for (const name of ['random.parquet', 'truncated.parquet']) {
      await rejectsWith(
        open({ kind: 'parquet', path: name }),
        'SOURCE_CORRUPT',
        `cannot read parquet file ${path.join(dir, name)}: `,
      );
    }
    for (const name of ['random.arrow', 'empty.arrow', 'truncated.arrow']) {
      await rejectsWith(
        open({ kind: 'arrow', path: name }),
        'SOURCE_CORRUPT',
        `cannot read arrow file ${path.join(dir, name)}: `,
      );
    }
    const missing = path.join(dir, 'sub', 'nope.parquet');
    await rejectsWith(
      open({ kind: 'parquet', path: 'sub/nope.parquet' }),
      'SOURCE_MISSING',
      `source file not found: ${missing}`,
    );
    // Absolute paths ignore the data root.
    await rejectsWith(
      openSource({ kind: 'csv', path: missing }, { dataRoot: '/elsewhere' }),
      'SOURCE_MISSING',
      missing,
    );
  });
});

describe('csv files', () => {
  test('quoting, CRLF, delimiters, nulls and malformed rows', async () => {
    const text =
      '\uFEFFid;note;ts\r\n' +
      '1;"semi;colon";2024-01-01T00:00:00Z\r\n' +
      '2;"say ""hi""\nsecond line";2024-01-01 06:30\r\n' +
      '3;;1704067200000\r\n' +
      '\r\n' + // blank line: skipped, takes no position
      '4;""\r\n' + // too few fields
      '5;x;2024-01-02;extra\r\n' + // too many
      '6;"open"x;garbage\r\n' + // text after closing quote
      '7;last;2024-01-01T01:00:00+01:00';
    writeFileSync(path.join(dir, 'rows.csv'), text);
    const data = await open({ kind: 'csv', path: 'rows.csv', delimiter: ';', timestampField: 'ts' });
    assert.deepEqual(data.columnNames, ['id', 'note', 'ts']);
    assert.equal(data.length, 7);
    assert.deepEqual(strings(data.column('id')), ['1', '2', '3', '4', '5', '6', '7']);
    assert.deepEqual(strings(data.column('note')), [
      'semi;colon',
      'say "hi"\nsecond line',
      null,
      '',
      'x',
      'openx',
      'last',
    ]);
    assert.deepEqual(Array.from(data.eventTs), [T0, T0 + 6.5 * 3_600_000, T0, NaN, T0 + DAY, NaN, T0]);
    assert.deepEqual(
      [...data.malformed!],
      [
        [3, 'expected 3 fields, found 2'],
        [4, 'expected 3 fields, found 4'],
        [5, 'unexpected text after closing quote in field 2'],
      ],
    );
  });

  test('unterminated quote, trailing delimiter, header only', async () => {
    writeFileSync(path.join(dir, 'open.csv'), 'a,b\n1,\n2,"never closed\n3,4\n');
    const open1 = await open({ kind: 'csv', path: 'open.csv' });
    assert.equal(open1.length, 2);
    assert.deepEqual(strings(open1.column('b')), [null, 'never closed\n3,4\n']);
    assert.deepEqual([...open1.malformed!], [[1, 'unterminated quoted field 2']]);
    writeFileSync(path.join(dir, 'header.csv'), 'a,b\n');
    const header = await open({ kind: 'csv', path: 'header.csv', timestampField: 'a' });
    assert.equal(header.length, 0);
    assert.deepEqual(Array.from(header.select({ startMs: 0, endMs: T0 }, true)), []);
  });

  test('bytes that are not UTF-8 are flagged per cell (fuzzing), a valid U+FFFD is not', async () => {
    // Found by bench:fuzz: such bytes were decoded to U+FFFD and stored as if the source said so.
    const bytes = Buffer.concat([
      Buffer.from('id,note\n1,ok\n2,a'),
      Buffer.from([0xff]),
      Buffer.from('b\n3,"q'),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from('"\n4,\uFFFD\n'),
      Buffer.from([0xe2, 0x82]),
      Buffer.from(',x\n'),
    ]);
    writeFileSync(path.join(dir, 'bytes.csv'), bytes);
    const data = await open({ kind: 'csv', path: 'bytes.csv' });
    const note = data.column('note');
    const id = data.column('id');
    assert.ok(note.kind === 'string' && id.kind === 'string');
    assert.deepEqual(strings(note), ['ok', 'a\uFFFDb', 'q\uFFFD\uFFFD\uFFFD', '\uFFFD', 'x']);
    assert.deepEqual(Array.from(note.invalid!), [0, 1, 1, 0, 0]);
    assert.deepEqual(Array.from(id.invalid!), [0, 0, 0, 0, 1]);
    assert.deepEqual(strings(id), ['1', '2', '3', '4', '\uFFFD']);
    // Where TextDecoder writes a U+FFFD for bad bytes, on random bytes (a BOM dropped).
    for (let t = 0; t < 2000; t++) {
      const random = randomBytes(t % 24);
      const text = new TextDecoder().decode(random);
      const offsets = invalidUtf8Offsets(random);
      assert.ok(offsets.every((o) => text[o] === '\uFFFD'));
      const literal = random.toString('hex').match(/efbfbd/g)?.length ?? 0;
      assert.ok(text.split('\uFFFD').length - 1 - offsets.length <= literal, random.toString('hex'));
      const bom = random[0] === 0xef && random[1] === 0xbb && random[2] === 0xbf;
      assert.equal(offsets.length === 0, Buffer.from(text).equals(bom ? random.subarray(3) : random));
    }
    // Arrow strings too, plain and dictionary-encoded.
    const utf8 = makeData({
      type: new Utf8(),
      length: 3,
      valueOffsets: Int32Array.of(0, 2, 4, 7),
      data: Uint8Array.of(0x68, 0x69, 0x68, 0xff, 0xc3, 0xa9, 0x21),
    });
    const plain = decodeVector(makeVector(utf8), 3);
    assert.ok(plain.kind === 'string');
    assert.deepEqual(Array.from(plain.invalid!), [0, 1, 0]);
    const dictionary = makeVector(
      makeData({
        type: new Dictionary(new Utf8(), new Int32()),
        length: 3,
        data: Int32Array.of(1, 0, 1),
        dictionary: makeVector(utf8),
      }),
    );
    const coded = decodeVector(dictionary, 3);
    assert.ok(coded.kind === 'string');
    assert.deepEqual(Array.from(coded.invalid!), [1, 0, 1]);
  });

  test('timestamp text parsing', () => {
    assert.equal(parseTimestampText('2024-01-01'), T0);
    assert.equal(parseTimestampText('2024-01-01T00:00:00.1234Z'), T0 + 123);
    assert.equal(parseTimestampText('2024-01-01T02:00:00+0200'), T0);
    assert.equal(parseTimestampText('2023-12-31T19:00:00-05:00'), T0);
    assert.equal(parseTimestampText(' 1704067200000 '), T0);
    assert.equal(parseTimestampText('-1000'), -1000);
    assert.equal(parseTimestampText('0050-01-01'), new Date(0).setUTCFullYear(50, 0, 1));
    for (const bad of [
      '',
      'yesterday',
      '2023-02-29',
      '2024-13-01',
      '2024-01-01T24:00',
      '1.5',
      '2024-01-01T00:00Q',
    ]) {
      assert.ok(Number.isNaN(parseTimestampText(bad)), bad);
    }
  });
});

describe('select', () => {
  const ts = new Float64Array([30, NaN, 10, 20, 10, MAX_EVENT_TS, MIN_EVENT_TS - 1, MIN_EVENT_TS, 20]);

  test('half-open ranges sorted by time, ties by position, untimed appended', () => {
    const index = buildTimeIndex(ts);
    assert.deepEqual(Array.from(index.order), [7, 2, 4, 3, 8, 0]);
    assert.deepEqual(Array.from(index.untimed), [1, 5, 6]);
  });

  test('via SourceData on a csv', async () => {
    const rows = Array.from(ts, (t) => (Number.isNaN(t) ? 'n/a' : String(t)));
    writeFileSync(path.join(dir, 'select.csv'), `ts\n${rows.join('\n')}\n`);
    const data = await open({ kind: 'csv', path: 'select.csv', timestampField: 'ts' });
    const sel = (startMs: number, endMs: number, untimed = false) =>
      Array.from(data.select({ startMs, endMs }, untimed));
    assert.deepEqual(sel(10, 20), [2, 4], 'start inclusive, end exclusive');
    assert.deepEqual(sel(10, 30), [2, 4, 3, 8]);
    assert.deepEqual(sel(11, 30, true), [3, 8, 1, 5, 6]);
    assert.deepEqual(sel(30, 10), []);
    assert.deepEqual(sel(-Infinity, Infinity), [7, 2, 4, 3, 8, 0], 'out-of-range rows are never timed');
  });

  test('radix order matches a comparison sort on random data', () => {
    const n = 20_000;
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = Math.random();
      values[i] =
        r < 0.05 ? NaN : r < 0.5 ? Date.UTC(1950, 0, 1) + Math.floor(r * 1000) * 3_600_000 : T0 + r * 1e9;
    }
    const expected = Array.from(values.keys())
      .filter((i) => values[i] >= MIN_EVENT_TS && values[i] < MAX_EVENT_TS)
      .sort((a, b) => values[a] - values[b] || a - b);
    assert.deepEqual(Array.from(buildTimeIndex(values).order), expected);
  });
});

describe('cache', () => {
  test('reuses decoded files, shares in-flight reads, re-reads changed files', async () => {
    clearSourceCache();
    const file = path.join(dir, 'cached.csv');
    writeFileSync(file, 'k,ts\na,2024-01-01\n');
    const source: SourceDefinition = { kind: 'csv', path: 'cached.csv', timestampField: 'ts' };
    const [a, b] = await Promise.all([open(source), open(source)]);
    assert.equal(a, b);
    assert.equal(await open(source), a);
    // Another timing on the same file is another SourceData over the same columns.
    const stat = await open({ kind: 'csv', path: 'cached.csv' });
    assert.notEqual(stat, a);
    assert.equal(stat.column('k'), a.column('k'));

    writeFileSync(file, 'k,ts\nb,2024-01-02\n'); // same size: only the mtime tells
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const changed = await open(source);
    assert.notEqual(changed, a);
    assert.deepEqual(strings(changed.column('k')), ['b']);

    // At most two files stay cached: opening two others evicts this one.
    for (const other of ['lru1.csv', 'lru2.csv']) {
      writeFileSync(path.join(dir, other), 'k\nx\n');
      await open({ kind: 'csv', path: other });
    }
    assert.notEqual(await open(source), changed);
  });

  test("spines are cached apart: a run's spine files never push a source out", async () => {
    clearSourceCache();
    const source: SourceDefinition = { kind: 'csv', path: 'cached.csv', timestampField: 'ts' };
    const kept = await open(source);
    for (const spine of ['spine1.csv', 'spine2.csv', 'spine3.csv']) {
      writeFileSync(path.join(dir, spine), 'k,ts\nx,2024-01-01\n');
      const spec = { path: spine, entities: [{ entity: 'k', columns: ['k'] }], tsColumn: 'ts' };
      assert.equal(await openSpine(spec, dir), await openSpine(spec, dir));
    }
    assert.equal(await open(source), kept);
  });
});

test('flights-3m parquet', async () => {
  const started = performance.now();
  const data = await openSource(
    { kind: 'parquet', path: 'node_modules/vega-datasets/data/flights-3m.parquet', timestampField: 'date' },
    { dataRoot: process.cwd() },
  );
  assert.equal(data.length, 3_000_000);
  assert.deepEqual(data.columnNames, ['date', 'delay', 'distance', 'origin', 'destination']);
  const decodeStart = performance.now();
  for (const name of data.columnNames) data.column(name);
  const decodeMs = performance.now() - decodeStart;
  const jan = { startMs: Date.UTC(2001, 0, 1), endMs: Date.UTC(2001, 1, 1) };
  const rows = data.select(jan);
  assert.ok(rows.length > 100_000);
  let prev = -Infinity;
  for (const i of rows) {
    const t = data.eventTs[i];
    assert.ok(t >= jan.startMs && t < jan.endMs && t >= prev);
    prev = t;
  }
  const origin = data.column('origin');
  assert.ok(origin.kind === 'string' && origin.dictionary.length > 100 && origin.dictionary.includes('LAX'));
  console.log(
    `flights-3m: open ${Math.round(decodeStart - started)} ms, decode columns ${Math.round(decodeMs)} ms`,
  );
  clearSourceCache();
});

test(
  'postgres table',
  { skip: !process.env.DATABASE_URL && 'needs DATABASE_URL (set by make test)' },
  async () => {
    // A non-UTC session zone: results must not depend on it.
    const pool = new pg.Pool({
      connectionString: process.env.DATABASE_URL,
      max: 2,
      options: '-c TimeZone=America/New_York',
    });
    const table = `src_test_${process.pid}_${Date.now()}`;
    try {
      await pool.query(
        `CREATE TABLE "${table}" (ts timestamptz, day date, n bigint, x float8, ok boolean, name text, amount numeric)`,
      );
      await pool.query(
        `INSERT INTO "${table}" VALUES
         ('2024-01-02T00:00:00Z', '2024-01-02', 9007199254740993, 1.5, true, 'b', 1.25),
         ('2024-01-01T00:00:00Z', '2024-01-01', 1, NULL, NULL, NULL, NULL),
         (NULL, NULL, NULL, 'NaN', false, 'a', 2),
         ('1800-01-01T00:00:00Z', '1800-01-01', -5, 2, true, 'old', 3),
         ('2024-03-01T00:00:00Z', '2024-03-01', 7, 3, true, 'later', 4)`,
      );
      const source: SourceDefinition = { kind: 'postgres', table, timestampField: 'ts' };
      const range = { startMs: T0, endMs: T0 + 2 * DAY };
      const data = await openSource(source, { dataRoot: dir, pool, range });
      assert.equal(data.label, `postgres:public.${table}`);
      assert.deepEqual(data.columnNames, ['ts', 'day', 'n', 'x', 'ok', 'name', 'amount']);
      // Ordered by ts: the 1800 row first, then January; NULL last; March is outside the range.
      assert.deepEqual(Array.from(data.eventTs), [Date.UTC(1800, 0, 1), T0, T0 + DAY, NaN]);
      assert.deepEqual(numbers(data.column('day')), [Date.UTC(1800, 0, 1), T0, T0 + DAY, null]);
      const n = data.column('n');
      assert.ok(n.kind === 'number');
      assert.deepEqual(numbers(n), [-5, 1, 2 ** 53, null]);
      assert.deepEqual(Array.from(n.inexact!), [0, 0, 1, 0]);
      assert.deepEqual(numbers(data.column('x')), [2, null, 1.5, NaN]);
      assert.deepEqual(numbers(data.column('ok')), [1, null, 1, 0]);
      assert.deepEqual(strings(data.column('name')), ['old', null, 'b', 'a']);
      assert.deepEqual(numbers(data.column('amount')), [3, null, 1.25, 2]);
      assert.deepEqual(Array.from(data.select(range, true)), [1, 2, 0, 3]);
      // Not cached: a new row shows up on the next open.
      await pool.query(`INSERT INTO "${table}" (ts) VALUES ('2024-01-01T12:00:00Z')`);
      assert.equal((await openSource(source, { dataRoot: dir, pool, range })).length, 5);
      // Without a range everything is read; a static source orders by ctid.
      const all = await openSource(
        { kind: 'postgres', table, staticTimestamp: '2020-01-01' },
        { dataRoot: dir, pool },
      );
      assert.equal(all.length, 6);
      assert.ok(all.eventTs.every((t) => t === Date.UTC(2020, 0, 1)));
      // timestamp without time zone reads as UTC; bigint event times are epoch ms.
      await pool.query(`ALTER TABLE "${table}" ADD COLUMN local timestamp, ADD COLUMN ms bigint`);
      await pool.query(
        `UPDATE "${table}" SET local = (ts AT TIME ZONE 'UTC'), ms = (extract(epoch from ts) * 1000)::bigint`,
      );
      for (const timestampField of ['local', 'ms']) {
        const other = await openSource({ ...source, timestampField }, { dataRoot: dir, pool, range });
        assert.deepEqual(
          Array.from(other.eventTs),
          [Date.UTC(1800, 0, 1), T0, T0 + DAY / 2, T0 + DAY, NaN],
          timestampField,
        );
      }
      await rejectsWith(
        openSource({ kind: 'postgres', table: 'no_such_table_here' }, { dataRoot: dir, pool }),
        'SOURCE_MISSING',
        'no_such_table_here',
      );
      await rejectsWith(
        openSource({ kind: 'postgres', table: 'x; DROP TABLE y' }, { dataRoot: dir, pool }),
        'SOURCE_SCHEMA',
      );
      await rejectsWith(
        openSource({ ...source, timestampField: 'when' }, { dataRoot: dir, pool }),
        'SOURCE_SCHEMA',
        '"when"',
      );
    } finally {
      await pool.query(`DROP TABLE IF EXISTS "${table}"`);
      await pool.end();
    }
  },
);
