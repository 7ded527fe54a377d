/**
 * bench:fuzz — 10k malformed source rows and 10k hostile tRPC requests on the real stack (ephemeral
 * Postgres + Temporal, a worker, a `kaizen serve` process). Rows: every one written or quarantined
 * with its reason (checked against the generator's record of what it spoiled), a second run writes
 * nothing. Requests: no 5xx, every error a typed tRPC error, the server's RSS sampled, healthy and
 * right afterwards. Ends with one JSON line; exits 1 when anything was violated.
 *
 *   npm run bench:fuzz [-- --rows 10000 --requests 10000 --seed 1 --concurrency 8]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runMaterialization } from '../runtime/materialization-runner.js';
import { log, runBench, withBenchStack } from './bench-stack.js';
import {
  fuzzRequests,
  fuzzSourceRows,
  prepareServing,
  startServerProcess,
  type FuzzStack,
} from './fuzz-suite.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000' },
    requests: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '8' },
    /** Cells of up to 1 MB among the rows (each 64 KB–1 MiB; a third exactly 1 MiB). */
    huge: { type: 'string', default: '20' },
  },
});
const ROWS = Number(args.rows);
const REQUESTS = Number(args.requests);
const SEED = Number(args.seed);
const MAX_ROWS = 1000;
const MAX_BODY_BYTES = 1_048_576;

runBench(async () => {
  const started = performance.now();
  // The fuzzed CSV (tens of MB with its 1 MB cells) and the model: removed afterwards.
  const dataRoot = mkdtempSync(path.join(os.tmpdir(), 'kaizen-bench-fuzz-data-'));
  let violations: number;
  try {
    violations = await fuzz(started, dataRoot);
  } finally {
    rmSync(dataRoot, { recursive: true, force: true });
  }
  if (violations > 0) throw new Error(`bench:fuzz: ${violations} violations (listed above)`);
});

/** The figures' JSON line on stdout; returns how many violations there were. */
async function fuzz(started: number, dataRoot: string): Promise<number> {
  let violations = 0;
  await withBenchStack(
    'fuzz',
    async ({ config, database, databaseUrl, store, temporal }) => {
      const stack: FuzzStack = {
        database,
        databaseUrl,
        dataRoot: config.dataRoot,
        materialize: (request) =>
          runMaterialization({ store, temporal, taskQueue: config.taskQueue }, request),
      };
      log(`fuzz: ${ROWS} source rows (seed ${SEED})…`);
      const rows = await fuzzSourceRows(stack, { rows: ROWS, seed: SEED, maxHuge: Number(args.huge) });
      for (const violation of rows.violations.slice(0, 20)) log(`  rows: ${violation}`);

      const keys = [
        ...new Set(rows.source.rows.flatMap((row) => (row.fault || !row.typed ? [] : [row.typed.key]))),
      ];
      const ctx = { ...(await prepareServing(stack, keys)), maxRows: MAX_ROWS, maxBodyBytes: MAX_BODY_BYTES };
      const server = await startServerProcess(stack, {
        KAIZEN_SERVE_MAX_ROWS: String(MAX_ROWS),
        KAIZEN_SERVE_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      });
      let requests;
      let exitCode: number | null;
      try {
        log(`fuzz: ${REQUESTS} requests to ${server.url.href} (${args.concurrency} at a time)…`);
        requests = await fuzzRequests(server, ctx, {
          requests: REQUESTS,
          seed: SEED,
          concurrency: Number(args.concurrency),
        });
      } finally {
        exitCode = await server.stop();
      }
      for (const violation of requests.violations.slice(0, 20)) log(`  requests: ${violation}`);
      if (exitCode !== 0) requests.violations.push(`the server's shutdown exited with ${exitCode}`);
      violations = rows.violations.length + requests.violations.length;
      console.log(
        JSON.stringify({
          bench: 'fuzz',
          seed: SEED,
          rows: rows.figures,
          requests: { ...requests.figures, clean_shutdown: exitCode === 0 },
          violations,
          seconds: Math.round((performance.now() - started) / 100) / 10,
        }),
      );
    },
    { KAIZEN_DATA_ROOT: dataRoot },
  );
  return violations;
}
