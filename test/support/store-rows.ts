import assert from 'node:assert/strict';
import type pg from 'pg';
import { quoteIdent } from '../../feature-store/definitions/identifiers.js';
import type { ViewVersion } from '../../feature-store/registry/types.js';
import type { ReferenceRow } from './reference.js';

/** All rows of a version's offline or online table, ordered by entity and time, values as numbers. */
export async function storeRows(
  pool: pg.Pool,
  view: ViewVersion,
  store: 'offline' | 'online',
): Promise<ReferenceRow[]> {
  const schema = store === 'offline' ? 'kaizen_offline' : 'kaizen_online';
  const table = store === 'offline' ? view.tables.offline : view.tables.online;
  const cols = view.features.map((f) => quoteIdent(f.name)).join(', ');
  const { rows } = await pool.query(
    `SELECT entity_key, event_ts, ${cols} FROM ${quoteIdent(schema)}.${quoteIdent(table)} ORDER BY entity_key, event_ts`,
  );
  return rows.map((r) => ({
    entityKey: r.entity_key,
    eventTs: (r.event_ts as Date).getTime(),
    values: Object.fromEntries(
      view.features.map((f) => [f.name, r[f.name] === null ? null : Number(r[f.name])]),
    ),
  }));
}

/** Row-by-row equality (floats within 1e-9 relative). */
export function assertRowsEqual(actual: ReferenceRow[], expected: ReferenceRow[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: row count`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    assert.equal(a.entityKey, e.entityKey, `${label}: entity of row ${i}`);
    assert.equal(a.eventTs, e.eventTs, `${label}: event_ts of row ${i} (${e.entityKey})`);
    for (const [name, value] of Object.entries(e.values)) {
      const got = a.values[name];
      if (value === null || got === null) assert.equal(got, value, `${label}: ${name} of row ${i}`);
      else
        assert.ok(
          Math.abs(got - value) <= 1e-9 * Math.max(1, Math.abs(value)),
          `${label}: ${name} of row ${i}: ${got} != ${value}`,
        );
    }
  }
}

/** Latest row per entity of a reference, ordered by entity: what the online store must hold. */
export function latestPerEntity(rows: ReferenceRow[]): ReferenceRow[] {
  const latest = new Map<string, ReferenceRow>();
  for (const r of rows)
    if (!latest.has(r.entityKey) || r.eventTs >= latest.get(r.entityKey)!.eventTs) latest.set(r.entityKey, r);
  return [...latest.values()].sort((a, b) =>
    a.entityKey < b.entityKey ? -1 : a.entityKey > b.entityKey ? 1 : 0,
  );
}

/** An order-independent checksum of a table's full contents, computed by Postgres. */
export async function tableChecksum(pool: pg.Pool, schema: string, table: string): Promise<string> {
  const { rows } = await pool.query(
    `SELECT count(*) AS n, coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS h FROM ${quoteIdent(schema)}.${quoteIdent(table)} t`,
  );
  return `${rows[0].n}:${rows[0].h}`;
}
