/**
 * The measured part of bench:monitor, in its own process so its peak RSS is the monitor's: the
 * monitor window over every logged prediction (the monitor workflow's analysis activity: read,
 * analyze, store results, raise alerts) and, alternating with it, the same COPY with its bytes
 * dropped (the I/O limit). Prints one JSON line; argv: database URL, model, start, end (epoch ms).
 */
import { connectDatabase } from '../db/client.js';
import { defaultPolicy } from '../monitoring/policy.js';
import { monitorWindow } from '../monitoring/monitor.js';
import { drainWindow } from '../monitoring/window-reader.js';
import { findDefinition } from '../models/definitions.js';
import type { MonitorPolicy } from '../monitoring/policy.js';

const [url, model, start, end] = process.argv.slice(2);
const window = {
  model,
  startMs: Number(start),
  endMs: Number(end),
  asOfMs: Date.now(),
  computedBy: 'bench:monitor',
};
const database = connectDatabase(url);
const stored = await findDefinition<MonitorPolicy>(database.db, 'monitorPolicy', model);
const policy = stored
  ? { definition: stored.definition, version: stored.version }
  : { definition: defaultPolicy(model), version: null };
const runs: Array<{ drainSeconds: number; monitorSeconds: number; bytes: number; rows: number }> = [];
for (let i = 0; i < 3; i++) {
  let started = performance.now();
  const bytes = await drainWindow(database.pool, window);
  const drainSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  // Seconds spent in each phase of the window (read, analyze, store results).
  const phases: Record<string, number> = {};
  let phase = '';
  let phaseStart = started;
  const summary = await monitorWindow(database, window, policy, (next) => {
    const now = performance.now();
    if (phase) phases[phase] = (now - phaseStart) / 1000;
    [phase, phaseStart] = [next, now];
  });
  phases[phase] = (performance.now() - phaseStart) / 1000;
  process.stderr.write(`  phases: ${JSON.stringify(phases)}\n`);
  runs.push({
    drainSeconds,
    monitorSeconds: (performance.now() - started) / 1000,
    bytes,
    rows: summary.rows,
  });
  process.stderr.write(
    `run ${i + 1}: drain ${drainSeconds.toFixed(2)} s, monitor ${runs[i].monitorSeconds.toFixed(2)} s, ${summary.rows} rows\n`,
  );
}
await database.close();
console.log(JSON.stringify({ runs, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
