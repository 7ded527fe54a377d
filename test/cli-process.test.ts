/**
 * bin/kaizen as users run it: from another working directory, `serve` and `worker` on the compiled
 * build, relative file arguments against the working directory, and a failed workflow reported by
 * its root cause.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { defineEntity, defineFeatureView } from '../feature-store/index.js';
import { startIntegration, type Integration } from './support/integration.js';

const KAIZEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/kaizen');

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function kaizen(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Run {
  const child = spawn(KAIZEN, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env } });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Resolves with the first match of `pattern` in the run's output; fails if it exits first. */
async function waitFor(run: Run, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(run.output());
    if (match) return match;
    if (run.child.exitCode !== null)
      throw new Error(`exited ${run.child.exitCode} before ${pattern}:\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const station = defineEntity({ name: 'station', joinKey: 'station' });
const levels = defineFeatureView({
  name: 'cli_levels',
  entities: [station],
  source: { kind: 'csv', path: 'levels.csv', timestampField: 'ts' },
  features: { level: 'float64' },
});

describe('bin/kaizen from any directory', { timeout: 180_000 }, () => {
  let env: Integration;
  let elsewhere: string;
  let connection: NodeJS.ProcessEnv;

  before(async () => {
    env = await startIntegration();
    writeFileSync(path.join(env.dataRoot, 'levels.csv'), 'ts,station,level\n2001-01-02T10:00:00Z,A,1\n');
    await env.store.apply({ entities: [station], views: [levels] });
    elsewhere = mkdtempSync(path.join(os.tmpdir(), 'kaizen-cwd-'));
    connection = {
      DATABASE_URL: env.databaseUrl,
      KAIZEN_DATA_ROOT: env.dataRoot,
      KAIZEN_HOME: path.join(elsewhere, '.kaizen'),
    };
  });

  after(async () => {
    await env?.close();
    rmSync(elsewhere, { recursive: true, force: true });
  });

  test('serve runs the compiled build (built first when sources are newer) and answers', async () => {
    const run = kaizen(['serve', '--port', '0'], { cwd: elsewhere, env: connection });
    try {
      const [, url] = await waitFor(run, /kaizen serve: (http:\/\/\S+)/, 120_000);
      const cmdline = readFileSync(`/proc/${run.child.pid}/cmdline`, 'utf8').split('\0');
      assert.ok(
        cmdline.some((arg) => arg.endsWith(path.join('dist', 'cli', 'main.js'))),
        cmdline.join(' '),
      );
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  });

  test('worker polls a custom KAIZEN_TASK_QUEUE', async () => {
    const run = kaizen(['worker'], {
      cwd: elsewhere,
      env: { ...connection, KAIZEN_TASK_QUEUE: 'kaizen-custom' },
    });
    try {
      await waitFor(run, /worker polling kaizen-custom on /);
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  });

  test('a relative --spine is the working directory’s file; a failed workflow names its root cause', async () => {
    writeFileSync(path.join(elsewhere, 'spine.csv'), 'ts,station\n2001-01-03T00:00:00Z,A\n');
    const args = [
      'training-set',
      'build',
      '--spine',
      'spine.csv',
      '--entity',
      'station=station',
      '--ts',
      'ts',
      '--features',
      'cli_levels:level',
      '--out',
      'levels.arrow',
    ];
    const worker = { ...connection, KAIZEN_TASK_QUEUE: env.worker.taskQueue };
    const run = kaizen(args, { cwd: elsewhere, env: worker });
    assert.equal(await run.exited, 1, run.output());
    assert.match(
      run.output(),
      /kaizen: invalid request: feature view cli_levels@v1 has no materialized data; run kaizen materialize cli_levels \(workflow training-set:[0-9a-f]+\)/,
    );
    assert.doesNotMatch(run.output(), /Workflow execution failed/);

    // The same name under KAIZEN_DATA_ROOT, another file: which one is meant is ambiguous.
    writeFileSync(path.join(env.dataRoot, 'spine.csv'), 'ts,station\n2001-01-04T00:00:00Z,B\n');
    const ambiguous = kaizen(args, { cwd: elsewhere, env: worker });
    assert.equal(await ambiguous.exited, 1);
    assert.match(
      ambiguous.output(),
      /kaizen: ambiguous --spine spine\.csv: both .* \(working directory\) and .* \(KAIZEN_DATA_ROOT\) exist/,
    );
  });

  test('train <model> --as-of runs the registered pipeline; without one it fails at once, naming why', async () => {
    const worker = { ...connection, KAIZEN_TASK_QUEUE: env.worker.taskQueue };
    const run = kaizen(['train', 'cli_nope', '--as-of', '2001-01-10'], { cwd: elsewhere, env: worker });
    assert.equal(await run.exited, 1, run.output());
    assert.match(
      run.output(),
      /workflow: retrain:cli_nope:2001-01-10T00:00:00\.000Z \(the registered pipeline of cli_nope, as of 2001-01-10T00:00:00\.000Z\)/,
    );
    assert.match(
      run.output(),
      /kaizen: unknown training pipeline "cli_nope": define it as code and run kaizen apply \(workflow retrain:cli_nope:2001-01-10T00:00:00\.000Z\)/,
    );
    // A spine file's options belong to a run from a spine file.
    const mixed = kaizen(['train', 'cli_nope', '--label', 'late'], { cwd: elsewhere, env: worker });
    assert.equal(await mixed.exited, 1);
    assert.match(mixed.output(), /--label describe a run from a spine file \(--spine\)/);
  });
});
