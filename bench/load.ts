/**
 * Load on one HTTP target, from this process while the server runs in another (the machine has 2
 * cores: load generator and server must not share an event loop).
 *
 * Peak: autocannon, closed loop, as fast as the server answers.
 *
 * Latency: an open loop at a fixed rate. Requests are due at evenly spaced times and each is sent when
 * due, whether or not earlier ones were answered, over a pool of keep-alive connections (node:http's
 * Agent), so a stalled server delays every request sent meanwhile instead of holding the next one back
 * (no coordinated omission). Each response is timed from the call that sent its request to its last
 * byte, with sub-millisecond resolution. (autocannon's own rate limit sends each connection's quota
 * for the second back to back at the start of every second: bursts, not a rate.)
 */
import http from 'node:http';
import autocannon from 'autocannon';

export interface Target {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** Enough that the server never waits for the next request (with 10 it idles ~20% of the time). */
const PEAK_CONNECTIONS = 50;
const WARMUP_S = 3;
const PEAK_S = 10;
/** The open loop's connections at most: past this, requests wait for one (and that wait is timed). */
const MAX_SOCKETS = 64;

function run(target: Target, opts: Partial<autocannon.Options>) {
  return new Promise<autocannon.Result>((resolve, reject) => {
    autocannon(
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
  });
}

/** Mean requests/s over the run, after a warm-up (JIT, caches, connections). */
export async function peakRps(target: Target): Promise<number> {
  await run(target, { connections: PEAK_CONNECTIONS, duration: WARMUP_S });
  const result = await run(target, { connections: PEAK_CONNECTIONS, duration: PEAK_S });
  return result.requests.total / PEAK_S;
}

export interface Latency {
  /** The rate asked for and the one sent (requests/s). */
  rate: number;
  rps: number;
  samples: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export interface PacedRun {
  rate: number;
  seconds: number;
}

/** Latency percentiles at `rate` requests/s over `seconds`, after a 1 s warm-up at that rate. */
export async function latencyAt(target: Target, { rate, seconds }: PacedRun): Promise<Latency> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  try {
    await paced(target, agent, rate, 1);
    const { latencies, sent } = await paced(target, agent, rate, seconds);
    latencies.sort();
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
    return {
      rate,
      rps: sent / seconds,
      samples: latencies.length,
      p50: at(0.5),
      p99: at(0.99),
      p999: at(0.999),
      max: latencies[latencies.length - 1],
    };
  } finally {
    agent.destroy();
  }
}

/** Sends `rate` × `seconds` requests at evenly spaced times; every response's latency (ms). */
function paced(target: Target, agent: http.Agent, rate: number, seconds: number) {
  const total = Math.max(1, Math.round(rate * seconds));
  const latencies = new Float64Array(total);
  const intervalMs = 1000 / rate;
  const url = new URL(target.url);
  const headers = { ...target.headers, 'content-length': Buffer.byteLength(target.body) };
  return new Promise<{ latencies: Float64Array; sent: number }>((resolve, reject) => {
    let sent = 0;
    let answered = 0;
    let failed: Error | undefined;
    const start = performance.now();
    const finish = (error?: Error) => {
      failed ??= error;
      if (++answered === total) return failed ? reject(failed) : resolve({ latencies, sent });
    };
    const send = () => {
      const k = sent++;
      const t0 = performance.now();
      const req = http.request(
        { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () => {
            latencies[k] = performance.now() - t0;
            finish(res.statusCode === 200 ? undefined : new Error(`${target.url}: status ${res.statusCode}`));
          });
        },
      );
      req.on('error', (error) => finish(error));
      req.end(target.body);
    };
    // Timers fire on whole milliseconds at best: each tick sends every request already due.
    const tick = () => {
      const elapsed = performance.now() - start;
      while (sent < total && sent * intervalMs <= elapsed) send();
      if (sent < total) setTimeout(tick, Math.max(0, sent * intervalMs - (performance.now() - start)));
    };
    tick();
  });
}
