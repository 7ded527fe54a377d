import path from 'node:path';
import type { KaizenConfig } from '../../config.js';
import { parseViewRef } from '../../feature-store/index.js';
import { withRuntime } from '../runtime-context.js';
import { parseTimeOption } from '../time-option.js';

export interface ExportOptions {
  out: string;
  start?: string;
  end?: string;
}

/** `kaizen export <view>[@vN] --out file.arrow`: a version's offline rows as an Arrow IPC file. */
export async function exportCommand(config: KaizenConfig, ref: string, opts: ExportOptions) {
  const { name, version } = parseViewRef(ref);
  const startMs = opts.start === undefined ? undefined : parseTimeOption('--start', opts.start);
  const endMs = opts.end === undefined ? undefined : parseTimeOption('--end', opts.end);
  return withRuntime(config, {}, async ({ store }) => {
    const view = await store.getView(name, version);
    const started = performance.now();
    const result = await store.exportOffline(view, path.resolve(opts.out), { startMs, endMs });
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${view.name}@v${view.version}: ${result.rows.toLocaleString('en-US')} rows written to ${result.path} in ${seconds.toFixed(1)} s`,
    );
    return result;
  });
}
