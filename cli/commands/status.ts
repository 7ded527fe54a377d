import type { KaizenConfig } from '../../config.js';
import { withRuntime } from '../runtime-context.js';

/** Feature views with versions, materialized chunks/rows and quarantine counts. */
export async function statusCommand(config: KaizenConfig): Promise<void> {
  await withRuntime(config, {}, async ({ database }) => {
    const { rows } = await database.pool.query(`
      SELECT v.view_name, v.version, v.created_at,
             COALESCE(c.chunks, 0) AS chunks, COALESCE(c.rows, 0) AS rows, c.last_end,
             COALESCE(q.quarantined, 0) AS quarantined
      FROM kaizen.feature_view_versions v
      LEFT JOIN (SELECT view_name, version, count(*) AS chunks, sum(rows_written) AS rows, max(range_end) AS last_end
                 FROM kaizen.materialization_chunks GROUP BY 1, 2) c USING (view_name, version)
      LEFT JOIN (SELECT view_name, version, count(*) AS quarantined FROM kaizen.quarantine GROUP BY 1, 2) q USING (view_name, version)
      ORDER BY v.view_name, v.version`);
    if (rows.length === 0) console.log('no feature views registered: run kaizen apply <file>');
    for (const r of rows) {
      const upTo = r.last_end ? ` up to ${new Date(r.last_end).toISOString()}` : '';
      console.log(
        `${`${r.view_name}@v${r.version}`.padEnd(28)} ${String(r.rows).padStart(10)} rows in ${r.chunks} chunks${upTo}, ${r.quarantined} quarantined`,
      );
    }
  });
}
