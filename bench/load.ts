/**
 * autocannon on one HTTP target, from this process while the server runs in another (the machine
 * has 2 cores: load generator and server must not share an event loop). Peak: closed loop, as fast
 * as the server answers. Latency: a fixed rate (autocannon `overallRate`), timed per response with
 * sub-millisecond resolution (autocannon's own histogram rounds to whole milliseconds).
 */
import autocannon from 'autocannon';

export interface Target {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** Enough that the server never waits for the next request (with 10 it idles ~20% of the time). */
const PEAK_CONNECTIONS = 50;
/**
 * autocannon's rate limit lets each connection send its per-second quota back to back at the start
 * of every second: the load comes in bursts of up to `connections` concurrent requests, each waiting
 * behind the others. So the latency run uses the fewest connections that reach the rate (within
 * RATE_REACHED): two when a request takes well under a millisecond at 5,000 requests/s, more at
 * higher rates.
 */
const RATE_CONNECTIONS = [2, 3, 4, 6, 8];
const RATE_REACHED = 0.95;
const WARMUP_S = 3;
const DURATION_S = 10;

function run(target: Target, opts: Partial<autocannon.Options>, onLatency?: (ms: number) => void) {
  return new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      { url: target.url, method: 'POST', headers: target.headers, body: target.body, ...opts },
      (error, result) => {
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        if (result.errors > 0 || result.non2xx > 0)
          return reject(
            new Error(`${target.url}: ${result.errors} errors, ${result.non2xx} non-2xx responses`),
          );
        resolve(result);
      },
    );
    // The tracker emits (client, status, bytes, ms); @types/autocannon omits the client.
    const tracker: NodeJS.EventEmitter = instance;
    if (onLatency)
      tracker.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) =>
        onLatency(ms),
      );
  });
}

/** Mean requests/s over the run, after a warm-up (JIT, caches, connections). */
export async function peakRps(target: Target): Promise<number> {
  await run(target, { connections: PEAK_CONNECTIONS, duration: WARMUP_S });
  const result = await run(target, { connections: PEAK_CONNECTIONS, duration: DURATION_S });
  return result.requests.total / DURATION_S;
}

export interface Latency {
  p50: number;
  p99: number;
  rps: number;
  /** autocannon connections it took to reach the rate. */
  connections: number;
}

/** Latency percentiles (ms) at `rate` requests/s; the last try's when no connection count reaches it. */
export async function latencyAt(target: Target, rate: number): Promise<Latency> {
  let latency: Latency | undefined;
  for (const connections of RATE_CONNECTIONS) {
    const latencies: number[] = [];
    const result = await run(
      target,
      { connections, duration: DURATION_S, overallRate: Math.max(1, Math.round(rate)) },
      (ms) => latencies.push(ms),
    );
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
    latency = { p50: at(0.5), p99: at(0.99), rps: result.requests.total / DURATION_S, connections };
    if (latency.rps >= RATE_REACHED * rate) break;
  }
  return latency!;
}
