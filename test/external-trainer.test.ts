import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { Float64, Int8, Table, tableToIPC, Utf8, vectorFromArray } from 'apache-arrow';
import { createTrainingActivities } from '../activities/training.js';
import type { Column } from '../feature-store/definitions/types.js';
import { auc } from '../models/metrics.js';
import { createOnnxScorer } from '../models/onnx-scorer.js';
import { runExternalTrainer, TrainerError, type ExternalTrainerResult } from '../trainers/external.js';
import { mulberry32 } from '../models/prng.js';

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const torchTrainer = path.join(repoRoot, 'trainers/torch/train.py');
/** The interpreter for the PyTorch trainer (one with torch, pyarrow and onnx installed). */
const python = process.env.KAIZEN_TORCH_PYTHON ?? 'python3';

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kaizen-external-trainer-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Writes a Node script into the temp dir; returns the spec fields that run it. */
async function script(name: string, source: string) {
  const file = path.join(dir, `${name}.mjs`);
  await fs.writeFile(file, source);
  return { command: process.execPath, args: [file] };
}

/** The protocol's arguments, as a test trainer sees them. */
const PARSE_ARGS = `
const args = process.argv.slice(2);
const arg = (name) => args[args.indexOf('--' + name) + 1];
const out = arg('out');
const params = JSON.parse(arg('params'));
`;

function spec(name: string) {
  return {
    train: path.join(dir, 'train.arrow'),
    valid: path.join(dir, 'valid.arrow'),
    out: path.join(dir, name),
  };
}

/** Alive unless kill(pid, 0) says ESRCH; a zombie (dead, not yet reaped by its new parent) counts as dead. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return !existsSync('/proc/self/stat'); // no procfs: trust kill()
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

describe('external trainer protocol', () => {
  test('success: progress lines become callbacks, outputs are read back', async () => {
    const trainer = await script(
      'ok',
      `import fs from 'node:fs';
${PARSE_ARGS}
console.log('starting (not JSON)');
for (let epoch = 1; epoch <= 3; epoch++) console.log(JSON.stringify({ epoch, train_loss: 1 / epoch }));
console.log('[1, 2]'); // JSON, but not an object: ignored
console.log('{ broken');
fs.writeFileSync(out + '/model.onnx', 'onnx-bytes');
fs.writeFileSync(out + '/metrics.json', JSON.stringify({ auc: 0.9, seen: { params, train: arg('train') } }));
`,
    );
    const progress: Record<string, unknown>[] = [];
    const params = { label: 'y', features: ['a', 'b'], hidden: [4] };
    const result = await runExternalTrainer(
      { ...trainer, ...spec('ok-out'), params },
      { onProgress: (p) => progress.push(p) },
    );
    assert.deepEqual(progress, [
      { epoch: 1, train_loss: 1 },
      { epoch: 2, train_loss: 0.5 },
      { epoch: 3, train_loss: 1 / 3 },
    ]);
    assert.equal(result.progress, 3);
    assert.equal(result.modelPath, path.join(dir, 'ok-out', 'model.onnx'));
    assert.equal(await fs.readFile(result.modelPath, 'utf8'), 'onnx-bytes');
    assert.deepEqual(result.metrics, { auc: 0.9, seen: { params, train: path.join(dir, 'train.arrow') } });
  });

  test('crash: the error has the exit code and the tail of stderr', async () => {
    const trainer = await script(
      'crash',
      `for (let i = 1; i <= 30; i++) console.error('stderr line ' + i);
console.log(JSON.stringify({ epoch: 1 }));
process.exit(3);
`,
    );
    await assert.rejects(
      runExternalTrainer({ ...trainer, ...spec('crash-out'), params: {} }),
      (error: Error) => {
        assert.ok(error instanceof TrainerError);
        assert.match(error.message, /exited with code 3/);
        assert.match(error.message, /stderr line 30/);
        assert.match(error.message, /stderr line 11\b/);
        assert.doesNotMatch(error.message, /stderr line 10\b/, 'only the last 20 lines');
        return true;
      },
    );
  });

  test('killed by a signal: the error names it', async () => {
    const trainer = await script('signal', `process.kill(process.pid, 'SIGKILL');\n`);
    await assert.rejects(
      runExternalTrainer({ ...trainer, ...spec('signal-out'), params: {} }),
      /signal SIGKILL/,
    );
  });

  test('exit 0 without outputs: a clear error naming what is missing', async () => {
    const trainer = await script(
      'missing',
      `import fs from 'node:fs';
${PARSE_ARGS}
fs.writeFileSync(out + '/metrics.json', '[1]');
`,
    );
    const out = spec('missing-out').out;
    await assert.rejects(
      runExternalTrainer({ ...trainer, ...spec('missing-out'), params: {} }),
      (error: Error) => {
        assert.ok(error instanceof TrainerError);
        assert.equal(error.reason, 'output');
        assert.ok(error.message.includes(`${path.join(out, 'model.onnx')} is missing`), error.message);
        assert.ok(error.message.includes('metrics.json is not a JSON object'), error.message);
        return true;
      },
    );
  });

  test('a command that cannot start fails with a TrainerError', async () => {
    await assert.rejects(
      runExternalTrainer({ command: path.join(dir, 'no-such-trainer'), ...spec('nostart-out'), params: {} }),
      (error: Error) => error instanceof TrainerError && /could not be started/.test(error.message),
    );
  });

  test('abort kills the trainer and the processes it started', async () => {
    const sleeper = await script('sleeper', `setInterval(() => {}, 1000);\n`);
    const trainer = await script(
      'forever',
      `import { spawn } from 'node:child_process';
const child = spawn(process.execPath, [${JSON.stringify(sleeper.args[0])}], { stdio: 'ignore' });
console.log(JSON.stringify({ trainer: process.pid, grandchild: child.pid }));
setInterval(() => console.log(JSON.stringify({ tick: Date.now() })), 200);
`,
    );
    const controller = new AbortController();
    const pids: number[] = [];
    const started = Date.now();
    const run = runExternalTrainer(
      { ...trainer, ...spec('forever-out'), params: {} },
      {
        signal: controller.signal,
        onProgress: (p) => {
          if (typeof p.trainer === 'number' && typeof p.grandchild === 'number') {
            pids.push(p.trainer, p.grandchild);
            controller.abort();
          }
        },
      },
    );
    await assert.rejects(run, (error: Error) => error.name === 'AbortError');
    assert.equal(pids.length, 2);
    assert.ok(
      await waitFor(() => pids.every((pid) => !alive(pid)), 3_000),
      `still alive: ${pids.filter(alive).join(', ')}`,
    );
    assert.ok(Date.now() - started < 8_000);
  });

  test('SIGTERM ignored: SIGKILL after the grace period', async () => {
    const trainer = await script(
      'stubborn',
      `process.on('SIGTERM', () => {});
console.log(JSON.stringify({ pid: process.pid }));
setInterval(() => {}, 1000);
`,
    );
    const controller = new AbortController();
    let pid = 0;
    await assert.rejects(
      runExternalTrainer(
        { ...trainer, ...spec('stubborn-out'), params: {} },
        {
          signal: controller.signal,
          killGraceMs: 300,
          onProgress: (p) => {
            pid = p.pid as number;
            controller.abort(new Error('stop it'));
          },
        },
      ),
      /stop it/,
    );
    assert.ok(await waitFor(() => !alive(pid), 2_000));
  });

  test('an error in onProgress kills the trainer and is what the run rejects with', async () => {
    const trainer = await script(
      'chatty',
      `console.log(JSON.stringify({ pid: process.pid }));
setInterval(() => {}, 1000);
`,
    );
    let pid = 0;
    await assert.rejects(
      runExternalTrainer(
        { ...trainer, ...spec('chatty-out'), params: {} },
        {
          onProgress: (p) => {
            pid = p.pid as number;
            throw new Error('consumer failed');
          },
        },
      ),
      /consumer failed/,
    );
    assert.ok(await waitFor(() => !alive(pid), 2_000));
  });
});

/** The failures below are expected: keep the SDK's activity-failure warnings out of the test output. */
const quiet = { logger: new DefaultLogger('ERROR') };

describe('runExternalTrainer activity', () => {
  test('heartbeats each progress report and writes under <artifactsDir>/models by default', async () => {
    const trainer = await script(
      'activity-ok',
      `import fs from 'node:fs';
${PARSE_ARGS}
console.log(JSON.stringify({ epoch: 1 }));
console.log(JSON.stringify({ epoch: 2 }));
fs.writeFileSync(out + '/model.onnx', 'x');
fs.writeFileSync(out + '/metrics.json', JSON.stringify({ out }));
`,
    );
    const env = new MockActivityEnvironment({ activityId: 'train/1' }, quiet);
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => heartbeats.push(details));
    const activities = createTrainingActivities({ artifactsDir: path.join(dir, 'artifacts') });
    const { train, valid } = spec('unused');
    const result = (await env.run(activities.runExternalTrainer, {
      ...trainer,
      train,
      valid,
      params: {},
    })) as ExternalTrainerResult;
    assert.equal(result.progress, 2);
    assert.deepEqual(
      heartbeats.filter((h) => (h as { epoch?: number }).epoch !== undefined),
      [
        { epoch: 1, attempt: 1 },
        { epoch: 2, attempt: 1 },
      ],
    );
    const out = result.metrics.out as string;
    assert.ok(out.startsWith(path.join(dir, 'artifacts', 'models') + path.sep), out);
    assert.ok(out.endsWith(path.sep + 'train_1'), out);
  });

  test('a crash is a non-retryable TrainerFailed failure', async () => {
    const trainer = await script('activity-crash', `console.error('out of memory'); process.exit(2);\n`);
    const env = new MockActivityEnvironment(undefined, quiet);
    const activities = createTrainingActivities({ artifactsDir: path.join(dir, 'artifacts') });
    await assert.rejects(
      env.run(activities.runExternalTrainer, { ...trainer, ...spec('activity-crash-out'), params: {} }),
      (error: unknown) => {
        assert.ok(error instanceof ApplicationFailure);
        assert.equal(error.type, 'TrainerFailed');
        assert.equal(error.nonRetryable, true);
        assert.match(error.message, /exited with code 2[\s\S]*out of memory/);
        return true;
      },
    );
  });

  test('cancelling the activity kills the trainer', async () => {
    const trainer = await script(
      'activity-forever',
      `console.log(JSON.stringify({ pid: process.pid }));
setInterval(() => {}, 1000);
`,
    );
    const env = new MockActivityEnvironment(undefined, quiet);
    let pid = 0;
    env.on('heartbeat', (details: { pid?: number }) => {
      if (details.pid) {
        pid = details.pid;
        env.cancel();
      }
    });
    const activities = createTrainingActivities({ artifactsDir: path.join(dir, 'artifacts') });
    await assert.rejects(
      env.run(activities.runExternalTrainer, { ...trainer, ...spec('activity-forever-out'), params: {} }),
      (error: unknown) => error instanceof CancelledFailure,
    );
    assert.ok(pid > 0);
    assert.ok(await waitFor(() => !alive(pid), 3_000));
  });
});

describe('PyTorch reference trainer', () => {
  test('train.py is valid Python', async (t) => {
    try {
      await execFileAsync('python3', ['--version']);
    } catch {
      t.skip('python3 not found: train.py not checked');
      return;
    }
    // compile() only: no __pycache__ left in the repository.
    const check = `import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')`;
    await execFileAsync('python3', ['-c', check, torchTrainer]);
  });

  test('trains an easy target end to end and its ONNX model scores it', async (t) => {
    try {
      // find_spec, not import: importing torch takes seconds, and the trainer does it anyway.
      const probe = `import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) for m in ('torch', 'pyarrow', 'onnx', 'numpy')) else 1)`;
      await execFileAsync(python, ['-c', probe]);
    } catch {
      t.skip('torch/pyarrow/onnx not importable here: PyTorch trainer not tested');
      return;
    }
    const train = synthetic(4000, 1);
    const valid = synthetic(1500, 2);
    const trainPath = path.join(dir, 'torch-train.arrow');
    const validPath = path.join(dir, 'torch-valid.arrow');
    await fs.writeFile(trainPath, tableToIPC(train.table, 'file'));
    await fs.writeFile(validPath, tableToIPC(valid.table, 'file'));
    const progress: Record<string, unknown>[] = [];
    const epochs = 15;
    const result = await runExternalTrainer(
      {
        command: python,
        args: [torchTrainer],
        train: trainPath,
        valid: validPath,
        out: path.join(dir, 'torch-out'),
        params: {
          label: 'y',
          features: ['x1', 'x2', 'color'],
          hidden: [16, 8],
          batch_size: 512,
          epochs,
          lr: 0.01,
          seed: 7,
          device: 'cpu',
        },
      },
      { onProgress: (p) => progress.push(p) },
    );
    assert.equal(progress.length, epochs);
    for (const [i, p] of progress.entries()) {
      assert.equal(p.epoch, i + 1);
      for (const key of ['train_loss', 'valid_loss', 'samples_per_s'])
        assert.equal(typeof p[key], 'number', key);
    }
    assert.ok((result.metrics.auc as number) > 0.8, `trainer auc ${String(result.metrics.auc)}`);
    for (const key of ['log_loss', 'accuracy', 'samples_per_s'])
      assert.equal(typeof result.metrics[key], 'number');
    assert.equal(result.metrics.device, 'cpu');

    const scorer = await createOnnxScorer(await fs.readFile(result.modelPath));
    try {
      assert.deepEqual([...scorer.inputNames].sort(), ['color', 'x1', 'x2']);
      const p = await scorer.score(valid.columns, valid.rows);
      assert.equal(p.length, valid.rows);
      assert.ok(p.every((v) => v >= 0 && v <= 1));
      const onnxAuc = auc(valid.labels, p);
      assert.ok(onnxAuc > 0.8, `onnx auc ${onnxAuc}`);
      // The graph computes what the trainer evaluated.
      assert.ok(
        Math.abs(onnxAuc - (result.metrics.auc as number)) < 1e-3,
        `${onnxAuc} vs ${String(result.metrics.auc)}`,
      );
    } finally {
      await scorer.release();
    }
  });
});

/** y depends on x1, x2 and a color; some values are missing (null), including unseen categories in validation. */
function synthetic(rows: number, seed: number) {
  const rand = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const colors = ['red', 'green', 'blue'];
  const effect: Record<string, number> = { red: 1.5, green: -1.5, blue: 0 };
  const x1: (number | null)[] = [];
  const x2: (number | null)[] = [];
  const color: (string | null)[] = [];
  const y = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    const a = normal() * 3 + 10;
    const b = normal();
    const c = rand() < 0.05 ? null : seed === 2 && rand() < 0.02 ? 'purple' : colors[Math.floor(rand() * 3)];
    const logit = 1.5 * (a - 10) - 2 * b + (c ? (effect[c] ?? 0) : 0);
    y[i] = rand() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    x1.push(rand() < 0.05 ? null : a);
    x2.push(b);
    color.push(c);
  }
  const table = new Table({
    x1: vectorFromArray(x1, new Float64()),
    x2: vectorFromArray(x2, new Float64()),
    color: vectorFromArray(color, new Utf8()),
    y: vectorFromArray(Array.from(y), new Int8()),
  });
  const numeric = (values: (number | null)[]): Column => ({
    type: 'float64',
    values: Float64Array.from(values, (v) => v ?? NaN),
    valid: Uint8Array.from(values, (v) => (v === null ? 0 : 1)),
  });
  const columns: Record<string, Column> = {
    x1: numeric(x1),
    x2: numeric(x2),
    color: { type: 'string', values: color, valid: Uint8Array.from(color, (v) => (v === null ? 0 : 1)) },
  };
  return { table, columns, rows, labels: y };
}
