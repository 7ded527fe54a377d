import cliProgress from 'cli-progress';
import type { BatchScoreProgress, MaterializeProgress } from '../workflows/index.js';

/** A bar that starts on its first update and draws only when stdout is a terminal. */
function terminalBar(format: string) {
  const bar = new cliProgress.SingleBar(
    { format, noTTYOutput: false, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(value: number, total: number, payload: Record<string, unknown>) {
      if (!process.stdout.isTTY) return;
      if (!started) {
        bar.start(total, value, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(value, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** A progress bar over chunks, with rows written so far; quiet when stdout is not a terminal. */
export function materializationBar(label: string): { update(p: MaterializeProgress): void; stop(): void } {
  const bar = terminalBar(
    `${label} [{bar}] {value}/{total} chunks | {rows} rows | {quarantined} quarantined | {duration}s`,
  );
  return {
    update: (p) =>
      bar.update(p.chunksDone, p.chunksTotal, {
        rows: p.rowsWritten.toLocaleString('en-US'),
        quarantined: p.rowsQuarantined,
      }),
    stop: () => bar.stop(),
  };
}

/** A progress bar over the scored parts, with the stage; quiet when stdout is not a terminal. */
export function batchScoreBar(label: string): { update(p: BatchScoreProgress): void; stop(): void } {
  const bar = terminalBar(`${label} [{bar}] {value}/{total} parts | {stage} | {duration}s`);
  return {
    // Until the features are built the number of parts is not known yet.
    update: (p) => bar.update(p.partsDone, Math.max(1, p.partsTotal), { stage: p.stage }),
    stop: () => bar.stop(),
  };
}
