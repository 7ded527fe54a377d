/**
 * Data-parallel training threads: the calling thread is thread 0 and worker threads are 1…n-1, each
 * a Shard over the same shared memory. A command (one batch's gradient, or the validation loss) runs
 * on all threads at once and the caller blocks until every thread is done — a batch takes about
 * a millisecond, too short to hand back to the event loop — then combines their results in thread
 * order, so the outcome does not depend on timing.
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { compileKernels } from './kernels.js';
import { Shard, sharedArray, type SharedTraining } from './shard.js';

/** Slots of the control array the threads coordinate through. */
const GENERATION = 0; // bumped for each command; idle workers wait for it to change
const COMMAND = 1;
const START = 2;
const ROWS = 3;
const DONE = 4; // workers finished with the current command
const FAILED = 5; // set by a worker whose command threw
const CONTROL_SLOTS = 6;

const BATCH_GRADIENT = 0;
const VALIDATION_LOSS = 1;

/**
 * A worker thread's entry: the compiled one in a build; from sources, plain JS that registers tsx
 * first (a worker cannot load a .ts entry on its own).
 */
const WORKER_ENTRY = import.meta.url.endsWith('.ts')
  ? new URL('./shard-worker.mjs', import.meta.url)
  : new URL('./shard-worker-entry.js', import.meta.url);

interface WorkerSetup {
  shared: SharedTraining;
  kernels: WebAssembly.Module;
  control: Int32Array;
  index: number;
}

export class TrainingThreads {
  private constructor(
    private readonly shared: SharedTraining,
    private readonly shard: Shard,
    private readonly control: Int32Array,
    private readonly workers: Worker[],
    /** The first error a worker throws. */
    private readonly failure: Promise<Error>,
  ) {}

  /** Starts `shared.grads.length - 1` workers and waits until each has set up its shard. */
  static async start(shared: SharedTraining): Promise<TrainingThreads> {
    const kernels = await compileKernels();
    const control = sharedArray(Int32Array, CONTROL_SLOTS);
    const workers = shared.grads.slice(1).map((_, i) => {
      const setup: WorkerSetup = { shared, kernels, control, index: i + 1 };
      return new Worker(WORKER_ENTRY, { workerData: setup });
    });
    // Listening from the start: an 'error' event nobody listens to would crash the process.
    const failure = Promise.race(
      workers.map((w) => new Promise<Error>((resolve) => w.once('error', resolve))),
    );
    try {
      await Promise.all(workers.map((w) => started(w, failure)));
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
    return new TrainingThreads(shared, new Shard(shared, 0, kernels), control, workers, failure);
  }

  /**
   * Gradient of the mean cross-entropy over the batch order[start, start + rows) at the current
   * parameters into `shared.grads[0]` (thread 0's slice plus thread 1's…); returns the batch's loss sum.
   */
  async batchGradient(start: number, rows: number): Promise<number> {
    await this.run(BATCH_GRADIENT, start, rows);
    const [sum, ...others] = this.shared.grads;
    for (const grads of others) for (let i = 0; i < sum.length; i++) sum[i] += grads[i];
    return this.lossSum();
  }

  /** Sum of cross-entropy over all validation rows. */
  async validationLoss(): Promise<number> {
    await this.run(VALIDATION_LOSS, 0, 0);
    return this.lossSum();
  }

  /** Stops the workers (also mid-command, e.g. after an error). */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private async run(command: number, start: number, rows: number): Promise<void> {
    const c = this.control;
    c[COMMAND] = command;
    c[START] = start;
    c[ROWS] = rows;
    Atomics.store(c, DONE, 0);
    Atomics.add(c, GENERATION, 1);
    Atomics.notify(c, GENERATION);
    execute(this.shard, command, start, rows);
    for (let done; (done = Atomics.load(c, DONE)) < this.workers.length;) Atomics.wait(c, DONE, done);
    if (Atomics.load(c, FAILED)) throw await this.failure;
  }

  private lossSum(): number {
    let sum = 0;
    for (const loss of this.shared.losses) sum += loss;
    return sum;
  }
}

/** Resolves once the worker has set up its shard; rejects if it fails or exits first. */
function started(worker: Worker, failure: Promise<Error>): Promise<void> {
  return new Promise((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('exit', (code) => reject(new Error(`a training worker exited early (code ${code})`)));
    void failure.then(reject);
  });
}

function execute(shard: Shard, command: number, start: number, rows: number): void {
  if (command === BATCH_GRADIENT) shard.batchGradient(start, rows);
  else shard.validationLoss();
}

/** A worker thread's loop: run each command on its shard, then report done. */
export function serveShard(): void {
  const { shared, kernels, control: c, index } = workerData as WorkerSetup;
  const shard = new Shard(shared, index, kernels);
  parentPort!.postMessage('ready');
  for (let seen = 0; ;) {
    Atomics.wait(c, GENERATION, seen);
    seen = Atomics.load(c, GENERATION);
    try {
      execute(shard, c[COMMAND], c[START], c[ROWS]);
    } catch (error) {
      Atomics.store(c, FAILED, 1);
      throw error;
    } finally {
      Atomics.add(c, DONE, 1);
      Atomics.notify(c, DONE);
    }
  }
}
