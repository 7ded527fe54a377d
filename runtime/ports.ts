import net from 'node:net';

/** Resolves with the port the OS bound, or rejects (EADDRINUSE etc.) if `port` cannot be bound. */
function bindOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * `preferred` if it is free on 127.0.0.1, else a port the OS picks. The port is released again before
 * this returns, so another process could take it in between: callers bind it straight away. Pass 0 to
 * always get an OS-assigned port (tests, so they never collide with a running `kaizen dev`).
 */
export async function findFreePort(preferred: number): Promise<number> {
  if (preferred > 0) {
    try {
      return await bindOnce(preferred);
    } catch {
      // Taken (or not bindable): fall through to an OS-assigned port.
    }
  }
  return bindOnce(0);
}
