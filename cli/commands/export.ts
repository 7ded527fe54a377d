import type { KaizenConfig } from '../../config.js';
import { exportOffline } from '../../feature-store/offline-export.js';
import { getViewVersion, parseViewRef } from '../../feature-store/registry.js';
import { parseIsoTimestamp } from '../../feature-store/row-preparation.js';
import { withRuntime } from '../runtime-context.js';

export interface ExportOptions {
  out: string;
  start?: string;
  end?: string;
}

/** Strict ISO 8601 (a time without an offset is UTC, never the local zone), like source timestamps. */
function parseTime(label: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseIsoTimestamp(value);
  if (!Number.isFinite(ms)) throw new Error(`invalid --${label} "${value}": expected an ISO 8601 time`);
  return ms;
}

/** `kaizen export <view>[@vN] --out file.arrow`: a version's offline rows as an Arrow IPC file. */
export async function exportCommand(config: KaizenConfig, ref: string, opts: ExportOptions) {
  const { name, version } = parseViewRef(ref);
  const startMs = parseTime('start', opts.start);
  const endMs = parseTime('end', opts.end);
  return withRuntime(config, {}, async ({ database }) => {
    const view = await getViewVersion(database.db, name, version);
    const started = performance.now();
    const result = await exportOffline(database.pool, view, opts.out, { startMs, endMs });
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${view.name}@v${view.version}: ${result.rows.toLocaleString('en-US')} rows written to ${result.path} in ${seconds.toFixed(1)} s`,
    );
    return result;
  });
}
