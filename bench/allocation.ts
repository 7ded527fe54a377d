/**
 * Bytes a call allocates (JavaScript heap and ArrayBuffers), measured between a forced GC and the
 * end of a batch of calls that no GC interrupted: the heap then only grew by what the calls
 * allocated. Needs `node --expose-gc`.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

const allocated = () => {
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
};

/** The median over `rounds` GC-free batches of `calls` calls (after 1,000 warm-up calls). */
export async function bytesPerCall(
  call: () => Promise<unknown>,
  { rounds = 15, calls = 100 }: { rounds?: number; calls?: number } = {},
): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('bytesPerCall needs node --expose-gc');
  for (let i = 0; i < 1000; i++) await call();
  let collections = 0;
  const observer = new PerformanceObserver((list) => (collections += list.getEntries().length));
  observer.observe({ entryTypes: ['gc'] });
  const perCall: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      // Timers and I/O the last batch left (e.g. a log flush) run before the GC, not during the batch;
      // gc entries arrive asynchronously, hence the waits around the forced one.
      await sleep(20);
      gc();
      await sleep(20);
      const before = collections;
      const start = allocated();
      for (let i = 0; i < calls; i++) await call();
      const end = allocated();
      await sleep(20);
      if (collections === before) perCall.push((end - start) / calls);
    }
  } finally {
    observer.disconnect();
  }
  if (perCall.length < Math.ceil(rounds / 2))
    throw new Error(`only ${perCall.length} of ${rounds} batches ran without a GC: use fewer calls`);
  perCall.sort((a, b) => a - b);
  return perCall[Math.floor(perCall.length / 2)];
}
