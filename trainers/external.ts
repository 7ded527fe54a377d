/**
 * The external-trainer protocol (design.md §3): a trainer is any command that accepts
 *   --train <arrow> --valid <arrow> --out <dir> --params <json>
 * prints progress as JSON objects, one per stdout line, and on success (exit code 0) leaves
 * `<out>/model.onnx` and `<out>/metrics.json` behind. The command runs in its own process group so
 * that cancellation (or any failure on this side) terminates it together with everything it started.
 * No Temporal here: activities/training.ts adapts this to an activity.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';

export interface ExternalTrainerSpec {
  /** Executable (looked up on PATH), e.g. `python3`. */
  command: string;
  /** Arguments before the protocol's, e.g. `['trainers/torch/train.py']`. */
  args?: string[];
  /** Training split, Arrow IPC file. */
  train: string;
  /** Validation split, Arrow IPC file. */
  valid: string;
  /** Output directory (created if missing). */
  out: string;
  /** Passed to the trainer as JSON in `--params`. */
  params: Record<string, unknown>;
  cwd?: string;
  /** Added to (and overriding) this process's environment. */
  env?: Record<string, string>;
}

export interface ExternalTrainerHooks {
  /** Called with each progress object the trainer prints. */
  onProgress?: (progress: Record<string, unknown>) => void;
  /** Aborting terminates the trainer's process group and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Time between SIGTERM and SIGKILL when terminating the trainer (default 5 s). */
  killGraceMs?: number;
}

export interface ExternalTrainerResult {
  /** Absolute path of `<out>/model.onnx`. */
  modelPath: string;
  /** The contents of `<out>/metrics.json`. */
  metrics: Record<string, unknown>;
  /** How many progress objects the trainer reported. */
  progress: number;
}

/** A trainer that could not start, failed, or did not produce its outputs: retrying will not help. */
export class TrainerError extends Error {
  constructor(
    message: string,
    readonly reason: 'spawn' | 'exit' | 'output',
  ) {
    super(message);
    this.name = 'TrainerError';
  }
}

const TAIL_LINES = 20;
const DEFAULT_KILL_GRACE_MS = 5_000;

export async function runExternalTrainer(
  spec: ExternalTrainerSpec,
  hooks: ExternalTrainerHooks = {},
): Promise<ExternalTrainerResult> {
  const { signal } = hooks;
  if (signal?.aborted) throw abortError(signal);
  const out = path.resolve(spec.cwd ?? '.', spec.out);
  await fs.mkdir(out, { recursive: true });
  const args = [
    ...(spec.args ?? []),
    '--train',
    spec.train,
    '--valid',
    spec.valid,
    '--out',
    out,
    '--params',
    JSON.stringify(spec.params),
  ];
  const what = `trainer "${[spec.command, ...(spec.args ?? [])].join(' ')}"`;
  const exit = await supervise(what, spec, args, hooks);
  if (exit.code !== 0) {
    const status = exit.signal ? `was killed by signal ${exit.signal}` : `exited with code ${exit.code}`;
    const tail = exit.stderr.length > 0 ? exit.stderr : exit.stdout;
    const shown = tail.length > 0 ? `; last output:\n${tail.join('\n')}` : ' (no output)';
    throw new TrainerError(`${what} ${status}${shown}`, 'exit');
  }
  return { ...(await readOutputs(what, out)), progress: exit.progress };
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  progress: number;
  /** Last lines of stderr, and of stdout lines that were not progress objects. */
  stderr: string[];
  stdout: string[];
}

/** Runs the command to completion; rejects on abort or on an error on this side, after killing it. */
function supervise(
  what: string,
  spec: ExternalTrainerSpec,
  args: string[],
  hooks: ExternalTrainerHooks,
): Promise<Exit> {
  const { signal, onProgress } = hooks;
  const grace = hooks.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  return new Promise<Exit>((resolve, reject) => {
    const child = spawn(spec.command, args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: `kill(-pid)` then reaches the trainer and all it started.
      detached: true,
    });
    const stderr: string[] = [];
    const stdout: string[] = [];
    let progress = 0;
    let failure: unknown;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;

    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // The group is gone already (ESRCH).
      }
    };
    /** SIGTERM to the whole group now, SIGKILL after the grace period if anything is still there. */
    const terminate = () => {
      if (killTimer) return;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), grace);
    };
    const fail = (error: unknown) => {
      failure ??= error;
      terminate();
    };
    const onAbort = () => fail(abortError(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort(); // aborted while the output directory was being made
    const finish = () => {
      settled = true;
      signal?.removeEventListener('abort', onAbort);
    };

    const pushTail = (lines: string[], line: string) => {
      lines.push(line);
      if (lines.length > TAIL_LINES) lines.shift();
    };
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
      const report = parseProgress(line);
      if (!report) return pushTail(stdout, line);
      progress++;
      try {
        onProgress?.(report);
      } catch (error) {
        fail(error);
      }
    });
    createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) =>
      pushTail(stderr, line),
    );
    child.stdout.on('error', fail);
    child.stderr.on('error', fail);

    child.once('error', (error: NodeJS.ErrnoException) => {
      if (settled) return;
      if (child.pid === undefined) {
        // It never started (e.g. ENOENT): no process to wait for.
        finish();
        reject(failure ?? new TrainerError(`${what} could not be started: ${error.message}`, 'spawn'));
      } else {
        fail(error);
      }
    });
    // The trainer is done: whatever it left running in its group is an orphan to clean up (this also
    // lets 'close' come, as the stdio pipes some of them may hold open get closed).
    child.once('exit', () => terminate());
    child.once('close', (code, sig) => {
      if (settled) return;
      finish();
      if (killTimer && !groupAlive(child.pid)) clearTimeout(killTimer);
      if (failure !== undefined) reject(failure);
      else resolve({ code, signal: sig, progress, stderr, stdout });
    });
  });
}

function groupAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A stdout line that is a JSON object, else undefined. */
function parseProgress(line: string): Record<string, unknown> | undefined {
  const text = line.trim();
  if (!text.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isPlainObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readOutputs(what: string, out: string): Promise<Omit<ExternalTrainerResult, 'progress'>> {
  const modelPath = path.join(out, 'model.onnx');
  const metricsPath = path.join(out, 'metrics.json');
  const problems: string[] = [];
  const model = await fs.stat(modelPath).catch(() => undefined);
  if (!model?.isFile()) problems.push(`${modelPath} is missing`);
  else if (model.size === 0) problems.push(`${modelPath} is empty`);
  let metrics: Record<string, unknown> = {};
  const text = await fs.readFile(metricsPath, 'utf8').catch(() => undefined);
  if (text === undefined) problems.push(`${metricsPath} is missing`);
  else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      problems.push(`${metricsPath} is not valid JSON (${(error as Error).message})`);
    }
    if (isPlainObject(parsed)) metrics = parsed;
    else if (parsed !== undefined) problems.push(`${metricsPath} is not a JSON object`);
  }
  if (problems.length > 0)
    throw new TrainerError(`${what} exited with code 0 but ${problems.join(' and ')}`, 'output');
  return { modelPath, metrics };
}

/** The abort's reason when it is an error (e.g. Temporal's CancelledFailure), else an AbortError. */
function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const error = new Error(`trainer aborted${reason === undefined ? '' : `: ${String(reason)}`}`);
  error.name = 'AbortError';
  return error;
}
