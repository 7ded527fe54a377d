/**
 * The training kernels: kernels.wat (WebAssembly SIMD on float32), compiled once per process at
 * run time so the readable text is the only source. A compiled module can be sent to worker threads,
 * each of which instantiates it on memory of its own.
 */
import { readFile } from 'node:fs/promises';

/** Row counts of `multiply`, input widths of `weightGradients`, output widths: multiples of these. */
export const ROW_BLOCK = 4;
export const INPUT_BLOCK = 4;
export const OUTPUT_BLOCK = 8;

/** `n` rounded up to a multiple of `block`. */
export const roundUp = (n: number, block: number) => Math.ceil(n / block) * block;

/** The kernels' exports; pointers are byte offsets into `memory`, sizes are element counts. */
export interface Kernels {
  memory: WebAssembly.Memory;
  multiply(
    a: number,
    w: number,
    bias: number,
    out: number,
    rows: number,
    inputs: number,
    outputs: number,
    relu: number,
  ): void;
  weightGradients(a: number, d: number, dw: number, rows: number, inputs: number, outputs: number): void;
  biasGradients(d: number, db: number, rows: number, outputs: number): void;
  reluGradient(d: number, y: number, bytes: number): void;
}

let compiled: Promise<WebAssembly.Module> | undefined;

export function compileKernels(): Promise<WebAssembly.Module> {
  compiled ??= (async () => {
    // Loaded here, not at the top: worker threads import this file but never compile.
    const wabt = await (await import('wabt')).default();
    const text = await readFile(new URL('./kernels.wat', import.meta.url), 'utf8');
    const parsed = wabt.parseWat('kernels.wat', text, { simd: true, bulk_memory: true });
    try {
      return new WebAssembly.Module(parsed.toBinary({}).buffer);
    } finally {
      parsed.destroy();
    }
  })();
  return compiled;
}

/** The kernels on a fresh memory of at least `bytes`. */
export function instantiateKernels(module: WebAssembly.Module, bytes: number): Kernels {
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return { memory, ...(instance.exports as Omit<Kernels, 'memory'>) };
}
