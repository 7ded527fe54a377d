import type { KaizenConfig } from '../../config.js';
import { parseViewRef } from '../../feature-store/index.js';
import { runMaterialization } from '../../runtime/materialization-runner.js';
import type { MaterializeResult } from '../../workflows/index.js';
import { materializationBar } from '../progress.js';
import { withRuntime, type RuntimeContext } from '../runtime-context.js';
import { parseTimeOption } from '../time-option.js';

export interface MaterializeOptions {
  start?: string;
  end?: string;
  concurrency?: number;
}

const parseTime = (label: string, value: string | undefined) =>
  value === undefined ? undefined : parseTimeOption(`--${label}`, value);

export function formatResult(result: MaterializeResult): string {
  const seconds = result.durationMs / 1000;
  const rate = seconds > 0 ? Math.round(result.rowsWritten / seconds) : 0;
  return (
    `${result.view}@v${result.version}: ${result.rowsWritten.toLocaleString('en-US')} rows written, ` +
    `${result.rowsQuarantined} quarantined, ${result.onlineRows} online rows updated, ` +
    `${result.chunks} chunks (${result.chunksSkipped} already committed, ${result.chunksRevised} revised: their source changed) in ${seconds.toFixed(1)} s (${rate.toLocaleString('en-US')} rows/s)`
  );
}

/** Materializes one view inside an existing runtime (used by the command and the demo). */
export async function materializeView(ctx: RuntimeContext, ref: string, opts: MaterializeOptions = {}) {
  const { name, version } = parseViewRef(ref);
  const bar = materializationBar(name.padEnd(20));
  try {
    return await runMaterialization(
      { store: ctx.store, temporal: ctx.temporal!, taskQueue: ctx.config.taskQueue },
      {
        view: name,
        version,
        startMs: parseTime('start', opts.start),
        endMs: parseTime('end', opts.end),
        maxConcurrency: opts.concurrency,
        onProgress: (p) => bar.update(p),
      },
    );
  } finally {
    bar.stop();
  }
}

export async function materializeCommand(config: KaizenConfig, ref: string, opts: MaterializeOptions) {
  return withRuntime(config, { temporal: true, worker: true }, async (ctx) => {
    const run = await materializeView(ctx, ref, opts);
    console.log(formatResult(run.result));
    console.log(`workflow: ${run.workflowId}`);
    return run;
  });
}
