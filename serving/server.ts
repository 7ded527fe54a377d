/**
 * The HTTP(S) server of `kaizen serve`: tRPC under `/trpc` (batching included), `/metrics`, `/healthz`,
 * `/readyz`, and a graceful shutdown. Stateless: any number can run behind a load balancer.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { Duplex } from 'node:stream';
import { isDatabaseUnavailable } from '../db/client.js';
import { closeServingDeps } from './app.js';
import type { ServingContext, ServingDeps } from './context.js';
import { MAX_BATCH_CALLS } from './limits.js';
import { checkReadiness } from './readiness.js';
import { appRouter } from './router.js';

export interface ServerOptions {
  deps: ServingDeps;
  /** 0: an ephemeral port (tests, benchmarks). */
  port: number;
  host: string;
  /** How long close() waits for in-flight requests before cutting their connections. */
  shutdownTimeoutMs: number;
  /** HTTPS with this certificate (PEM, chain included) and key (runtime/tls.ts checks them); else HTTP. */
  tls?: { cert: Buffer | string; key: Buffer | string };
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  /** Stops accepting, lets in-flight requests finish, then closes the serving components; idempotent. */
  close(): Promise<void>;
}

const TRPC_PREFIX = '/trpc/';

/** `Authorization: Bearer <key>` or `x-api-key: <key>`; the secret itself is never logged. */
function presentedKey(req: http.IncomingMessage): string | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (bearer) return bearer[1];
  const header = req.headers['x-api-key'];
  return typeof header === 'string' && header ? header : undefined;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { deps, log = (line: string) => console.error(line) } = options;
  const createContext = async (req: http.IncomingMessage): Promise<ServingContext> => {
    const secret = presentedKey(req);
    try {
      return { deps, key: secret ? await deps.keys.verify(secret) : null };
    } catch (error) {
      // The key could not be checked: say why without the query (its parameters hold the key's hash).
      if (isDatabaseUnavailable(error))
        throw new TRPCError({
          code: 'SERVICE_UNAVAILABLE',
          message: 'the database is unavailable; retry shortly',
        });
      log(`serve: API key check failed: ${(error as Error).message}`);
      throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'the API key could not be checked' });
    }
  };
  // Client mistakes (auth, input, size) are answered and counted in metrics, not logged. Calls that
  // reached a procedure were counted by its middleware; the rest (type unknown) are counted here.
  const onError = (error: TRPCError, path: string | undefined, type: string) => {
    if (error.code === 'INTERNAL_SERVER_ERROR') log(`serve: ${path ?? '?'} failed: ${error.message}`);
    if (type === 'unknown') deps.metrics.countRefusedRequest(path ?? 'unknown', error.code);
  };
  // Every call goes through tRPC's public standalone adapter: one middleware chain for all of them.
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: TRPC_PREFIX,
    maxBodySize: deps.limits.maxBodyBytes,
    maxBatchSize: MAX_BATCH_CALLS,
    // Lets clients send queries as POST: large `features.get` inputs never hit URL length limits.
    allowMethodOverride: true,
    createContext: ({ req }) => createContext(req),
    onError: ({ error, path, type }) => onError(error, path, type),
  });

  let draining = false;
  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    // While draining, finish this response and then close the keep-alive connection.
    if (draining) res.setHeader('connection', 'close');
    const url = req.url ?? '/';
    if (url.startsWith(TRPC_PREFIX)) return trpc(req, res);
    const route = path(url);
    if (route === '/healthz') return sendJson(res, 200, { ok: true });
    if (route === '/readyz') {
      checkReadiness(deps).then(
        (checks) => sendJson(res, checks.ready && !draining ? 200 : 503, { ...checks, draining }),
        (error: unknown) => {
          log(`serve: readiness check failed: ${error instanceof Error ? error.message : String(error)}`);
          sendJson(res, 503, { ready: false });
        },
      );
      return;
    }
    if (route === '/metrics') {
      deps.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
          res.end(text);
        },
        () => sendJson(res, 500, { error: 'metrics unavailable' }),
      );
      return;
    }
    sendJson(res, 404, { error: `no route ${route}: tRPC procedures are under ${TRPC_PREFIX}` });
  };
  // Same handler either way; a client that fails the TLS handshake never reaches it.
  const server = options.tls ? https.createServer(options.tls, handle) : http.createServer(handle);
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) =>
    refuseUnparsable(error, socket, () => deps.metrics.countRefusedRequest('unknown', 'BAD_REQUEST')),
  );

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections whose request was in flight turn idle only later: sweep until done.
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      const cut = setTimeout(() => server.closeAllConnections(), options.shutdownTimeoutMs);
      await stopped;
      clearInterval(sweep);
      clearTimeout(cut);
      // No request uses them any more; the pool's owner closes it after this (the log flushes through it).
      await closeServingDeps(deps);
    })());

  const scheme = options.tls ? 'https' : 'http';
  return { url: `${scheme}://${urlHost(options.host)}:${port}`, port, close };
}

const path = (url: string) => url.split('?', 1)[0];

/**
 * A request Node's HTTP parser refused before any handler saw it (headers over 16 KB — a URL of
 * thousands of batched calls —, a malformed request line or header): answered as tRPC answers bad
 * input, a JSON error with its code, instead of Node's bare status line. Then the connection closes.
 */
function refuseUnparsable(error: NodeJS.ErrnoException, socket: Duplex, count: () => void): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  count();
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const reason = tooLarge
    ? 'Request Header Fields Too Large'
    : status === 408
      ? 'Request Timeout'
      : 'Bad Request';
  const message = tooLarge
    ? `request line and headers over 16 KB (batch at most ${MAX_BATCH_CALLS} calls; send long inputs as POST bodies)`
    : `malformed HTTP request (${error.code ?? 'parse error'})`;
  const body = JSON.stringify({
    error: { message, code: -32600, data: { code: 'BAD_REQUEST', httpStatus: status } },
  });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** A host clients can dial: wildcard addresses become loopback, IPv6 literals get brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
