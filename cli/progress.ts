import cliProgress from 'cli-progress';
import type { MaterializeProgress } from '../workflows/index.js';

/** A progress bar over chunks, with rows written so far; quiet when stdout is not a terminal. */
export function materializationBar(label: string): { update(p: MaterializeProgress): void; stop(): void } {
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} chunks | {rows} rows | {quarantined} quarantined | {duration}s`,
      noTTYOutput: false,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      if (!process.stdout.isTTY) return;
      const payload = { rows: p.rowsWritten.toLocaleString('en-US'), quarantined: p.rowsQuarantined };
      if (!started) {
        bar.start(p.chunksTotal, p.chunksDone, payload);
        started = true;
      } else bar.update(p.chunksDone, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
