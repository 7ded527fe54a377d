import type { KaizenConfig } from '../../config.js';
import { SourceError, type ChunkState } from '../../feature-store/index.js';
import { withRuntime } from '../runtime-context.js';

export interface ViewStatus {
  view: string;
  version: number;
  rows: number;
  chunks: number;
  lastEnd: Date | null;
  quarantined: number;
  /** Committed chunks whose source rows changed since (rows appended or corrected). */
  stale: ChunkState[];
  /** Why staleness could not be checked (the source cannot be read). */
  sourceError?: string;
}

/** One line per version, and for stale chunks the command that brings them up to date. */
export function formatViewStatus(s: ViewStatus): string[] {
  const upTo = s.lastEnd ? ` up to ${s.lastEnd.toISOString()}` : '';
  const line = `${`${s.view}@v${s.version}`.padEnd(28)} ${String(s.rows).padStart(10)} rows in ${s.chunks} chunks${upTo}, ${s.quarantined} quarantined`;
  if (s.sourceError) return [`${line}; staleness unknown: ${s.sourceError}`];
  if (s.stale.length === 0) return [line];
  const start = new Date(Math.min(...s.stale.map((c) => c.startMs))).toISOString();
  const end = new Date(Math.max(...s.stale.map((c) => c.endMs))).toISOString();
  return [
    `${line}, ${s.stale.length} stale chunk${s.stale.length > 1 ? 's' : ''} (source changed since)`,
    ...s.stale.map((c) => `    stale: ${c.chunkId} (revision ${c.revision})`),
    `    run: kaizen materialize ${s.view}@v${s.version} --start ${start} --end ${end}`,
  ];
}

/** Feature views with versions, materialized chunks/rows, quarantine counts and stale chunks. */
export async function statusCommand(config: KaizenConfig): Promise<ViewStatus[]> {
  return withRuntime(config, {}, async ({ database, store }) => {
    const { rows } = await database.pool.query(`
      SELECT v.view_name, v.version,
             COALESCE(c.chunks, 0) AS chunks, COALESCE(c.rows, 0) AS rows, c.last_end,
             COALESCE(q.quarantined, 0) AS quarantined
      FROM kaizen.feature_view_versions v
      LEFT JOIN (SELECT view_name, version, count(*) AS chunks, sum(rows_written) AS rows, max(range_end) AS last_end
                 FROM kaizen.materialization_chunks GROUP BY 1, 2) c USING (view_name, version)
      LEFT JOIN (SELECT view_name, version, count(*) AS quarantined FROM kaizen.quarantine GROUP BY 1, 2) q USING (view_name, version)
      ORDER BY v.view_name, v.version`);
    if (rows.length === 0) console.log('no feature views registered: run kaizen apply <file>');
    const statuses: ViewStatus[] = [];
    for (const r of rows) {
      // Reading the source is what tells a stale chunk; only versions with committed chunks have any.
      let states: ChunkState[] = [];
      let sourceError: string | undefined;
      try {
        if (Number(r.chunks) > 0)
          states = await store.chunkStates(await store.getView(r.view_name, r.version));
      } catch (error) {
        if (!(error instanceof SourceError)) throw error;
        sourceError = error.message;
      }
      const status: ViewStatus = {
        view: r.view_name,
        version: r.version,
        rows: Number(r.rows),
        chunks: Number(r.chunks),
        lastEnd: r.last_end ? new Date(r.last_end) : null,
        quarantined: Number(r.quarantined),
        stale: states.filter((c) => c.stale),
        sourceError,
      };
      for (const line of formatViewStatus(status)) console.log(line);
      statuses.push(status);
    }
    return statuses;
  });
}
