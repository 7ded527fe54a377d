/**
 * A Postgres table (or view) as a source. Not cached: tables change between reads. With a range,
 * only the rows a chunk can use are fetched: those in the range, plus rows without a usable event
 * time (NULL or outside [MIN_EVENT_TS, MAX_EVENT_TS)) so that select(range, true) can quarantine them.
 */
import type pg from 'pg';
import { quoteIdent } from '../definitions/identifiers.js';
import type { TimeRange } from '../definitions/types.js';
import { makeColumnSet, StringDictionary, withEventTime, type EventTimeSpec } from './columnar.js';
import { MAX_EVENT_TS, MIN_EVENT_TS, SourceError, type RawColumn, type SourceData } from './source-data.js';

export type PostgresSource = EventTimeSpec & { table: string; schema?: string };

/** Source tables are not ours to name, so any plain SQL identifier is accepted (then quoted). */
const SOURCE_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Fetch = 'timestamp' | 'number' | 'int8' | 'numeric' | 'bool' | 'text';

/** How each base type is fetched: times as epoch ms computed by Postgres, odd types as text. */
const FETCH_BY_TYPE: Record<string, Fetch> = {
  timestamp: 'timestamp',
  timestamptz: 'timestamp',
  date: 'timestamp',
  int2: 'number',
  int4: 'number',
  float4: 'number',
  float8: 'number',
  int8: 'int8',
  numeric: 'numeric',
  bool: 'bool',
};

/**
 * Parsers for the few result types we request, so that a process-wide pg.types override (db/client
 * turns int8 into Number) cannot change what this reader sees; everything else stays text.
 */
const PARSERS: Record<number, (v: string) => unknown> = {
  16: (v) => v === 't', // bool
  21: Number, // int2
  23: Number, // int4
  700: Number, // float4
  701: Number, // float8 (accepts 'Infinity', 'NaN')
};
const queryTypes = { getTypeParser: (oid: number) => PARSERS[oid] ?? ((v: string) => v) };

interface ColumnInfo {
  name: string;
  fetch: Fetch;
}

function checkIdentifier(what: string, name: string): string {
  if (typeof name !== 'string' || !SOURCE_IDENTIFIER.test(name)) {
    throw new SourceError('SOURCE_SCHEMA', `invalid postgres ${what} name ${JSON.stringify(name)}`);
  }
  return name;
}

export async function readPostgresTable(
  pool: pg.Pool,
  source: PostgresSource,
  range?: TimeRange,
): Promise<SourceData> {
  const schema = checkIdentifier('schema', source.schema ?? 'public');
  const table = checkIdentifier('table', source.table);
  const tsField =
    source.timestampField === undefined ? undefined : checkIdentifier('column', source.timestampField);
  const label = `postgres:${schema}.${table}`;

  const meta = await pool.query<{ relkind: string; name: string | null; type: string | null }>({
    text: `SELECT c.relkind, a.attname AS name, bt.typname AS type
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             LEFT JOIN pg_type t ON t.oid = a.atttypid
             LEFT JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
            WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
            ORDER BY a.attnum`,
    values: [schema, table],
    types: queryTypes,
  });
  if (meta.rows.length === 0)
    throw new SourceError('SOURCE_MISSING', `postgres table not found: ${schema}.${table}`);
  const columns: ColumnInfo[] = meta.rows
    .filter((r) => r.name !== null)
    .map((r) => ({ name: r.name!, fetch: FETCH_BY_TYPE[r.type ?? ''] ?? 'text' }));
  const tsColumn = tsField === undefined ? undefined : columns.find((c) => c.name === tsField);
  if (tsField !== undefined && !tsColumn) {
    throw new SourceError(
      'SOURCE_SCHEMA',
      `timestamp column "${tsField}" not found in ${label} (columns: ${columns.map((c) => c.name).join(', ') || 'none'})`,
    );
  }
  // Views and foreign tables have no ctid; their order among equal times is whatever Postgres returns.
  const hasCtid = ['r', 'p', 'm'].includes(meta.rows[0].relkind);

  const values: string[] = [];
  const where = tsColumn && range ? rangeCondition(tsColumn, meta.rows, range, values) : '';
  const order = [tsColumn ? `${quoteIdent(tsColumn.name)} NULLS LAST` : '', hasCtid ? 'ctid' : ''].filter(
    Boolean,
  );
  const result = await pool.query<unknown[]>({
    text:
      `SELECT ${columns.map(selectExpression).join(', ') || 'NULL'} FROM ${quoteIdent(schema)}.${quoteIdent(table)}` +
      (where ? ` WHERE ${where}` : '') +
      (order.length ? ` ORDER BY ${order.join(', ')}` : ''),
    values,
    rowMode: 'array',
    types: queryTypes,
  });

  const rows = result.rows;
  const decoded = columns.map((c, j) => decodeColumn(rows, j, c.fetch));
  const names = columns.map((c) => c.name);
  const columnSet = makeColumnSet(label, rows.length, names, (name) => decoded[names.indexOf(name)]);
  return withEventTime(columnSet, {
    timestampField: tsField,
    staticTimestamp: source.staticTimestamp,
    createdTimestampField:
      source.createdTimestampField === undefined
        ? undefined
        : checkIdentifier('column', source.createdTimestampField),
  });
}

function selectExpression(c: ColumnInfo): string {
  const col = quoteIdent(c.name);
  switch (c.fetch) {
    case 'timestamp':
      // Postgres does the conversion, independent of the session's DateStyle and TimeZone; a
      // timestamp without time zone counts as UTC. ±infinity comes back as ±Infinity.
      return `floor(extract(epoch from ${col}) * 1000)::float8 AS ${col}`;
    case 'number':
    case 'bool':
      return col;
    default:
      return `${col}::text AS ${col}`;
  }
}

/**
 * `(ts >= $1 AND ts < $2) OR ts IS NULL OR ts < $3 OR ts >= $4`, bounds typed like the column so
 * an index on it applies. Text columns are not filtered (their values are parsed in JS).
 */
function rangeCondition(
  ts: ColumnInfo,
  meta: { name: string | null; type: string | null }[],
  range: TimeRange,
  values: string[],
): string {
  const type = meta.find((r) => r.name === ts.name)!.type!;
  let literal: (ms: number) => string;
  if (type === 'timestamptz' || type === 'timestamp') {
    literal = (ms) => new Date(ms).toISOString(); // a zone in timestamp input is ignored: reads as UTC
  } else if (type === 'date') {
    // A date is midnight UTC of that day: date >= ceil_day(ms) <=> midnight >= ms.
    literal = (ms) => new Date(Math.ceil(ms / 86_400_000) * 86_400_000).toISOString().slice(0, 10);
  } else if (ts.fetch === 'number' || ts.fetch === 'int8' || ts.fetch === 'numeric') {
    // Epoch ms; for integer columns, col >= ceil(x) <=> col >= x, and the literal must be an integer.
    literal = type.startsWith('int') ? (ms) => String(Math.ceil(ms)) : (ms) => String(ms);
  } else {
    return '';
  }
  const col = quoteIdent(ts.name);
  const cast = `::${type}`;
  const param = (ms: number) => {
    values.push(literal(ms));
    return `$${values.length}${cast}`;
  };
  const inRange: string[] = [];
  // Bounds beyond the supported years cannot be written as literals and do not restrict anything.
  if (range.startMs > MIN_EVENT_TS) inRange.push(`${col} >= ${param(range.startMs)}`);
  if (range.endMs < MAX_EVENT_TS) inRange.push(`${col} < ${param(range.endMs)}`);
  if (inRange.length === 0) return '';
  return `(${inRange.join(' AND ')}) OR ${col} IS NULL OR ${col} < ${param(MIN_EVENT_TS)} OR ${col} >= ${param(MAX_EVENT_TS)}`;
}

const TWO_53 = 2 ** 53;

/** Column j of the row arrays → RawColumn (number columns flag int8 values beyond ±2^53). */
function decodeColumn(rows: unknown[][], j: number, fetch: Fetch): RawColumn {
  const n = rows.length;
  const valid = new Uint8Array(n);
  if (fetch === 'text') {
    const codes = new Int32Array(n);
    const dict = new StringDictionary();
    for (let i = 0; i < n; i++) {
      const v = rows[i][j] as string | null;
      codes[i] = v === null ? -1 : dict.code(v);
    }
    return { kind: 'string', codes, dictionary: dict.values };
  }
  if (fetch === 'bool') {
    const values = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = rows[i][j] as boolean | null;
      if (v !== null) {
        valid[i] = 1;
        values[i] = v ? 1 : 0;
      }
    }
    return { kind: 'bool', values, valid };
  }
  const values = new Float64Array(n);
  let inexact: Uint8Array | undefined;
  for (let i = 0; i < n; i++) {
    const v = rows[i][j] as number | string | null;
    if (v === null) {
      if (fetch === 'timestamp') values[i] = NaN;
      continue;
    }
    const x = Number(v);
    valid[i] = 1;
    values[i] = x;
    // Number() rounds 2^53 + 1 down to 2^53, so the boundary needs the exact comparison.
    if (fetch === 'int8' && Math.abs(x) >= TWO_53 && (Math.abs(x) > TWO_53 || BigInt(v) !== BigInt(x))) {
      (inexact ??= new Uint8Array(n))[i] = 1;
    }
  }
  if (fetch === 'timestamp') return { kind: 'timestamp', values, valid };
  return inexact ? { kind: 'number', values, valid, inexact } : { kind: 'number', values, valid };
}
