/**
 * tRPC's HTTP protocol for the requests product services send — POST with a JSON body, one call or
 * a batch (`/trpc/a,b?batch=1`, body `{"0": input, "1": input}`) — answered straight from node:http.
 * The standalone adapter turns every request into a Fetch `Request`, `AbortSignal`s, streams and a
 * `Response` first: on Node 20 that costs ~0.3 ms of CPU per request, several times the work of a
 * cached `features.get`. Built only from tRPC's public exports, so procedures, middlewares, error
 * shapes (errorFormatter) and status codes are tRPC's own; everything else (GET, other content types)
 * goes to the adapter.
 */
import type http from 'node:http';
import {
  callTRPCProcedure,
  getTRPCErrorFromUnknown,
  getTRPCErrorShape,
  TRPCError,
  type AnyTRPCRouter,
  type TRPCProcedureType,
} from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';

export interface FastRpcOptions<TContext> {
  router: AnyTRPCRouter;
  createContext(req: http.IncomingMessage): Promise<TContext>;
  maxBodySize: number;
  onError(error: TRPCError, path: string): void;
}

interface Call {
  path: string;
  type: TRPCProcedureType | 'unknown';
}

/**
 * POST with a JSON body (or none) and a plain JSON answer expected: what createKaizenClient sends
 * (httpBatchLink, methodOverride POST). Streaming clients (`application/jsonl`) go to the adapter.
 */
export function isFastRpcRequest(req: http.IncomingMessage): boolean {
  const { 'content-type': type, 'trpc-accept': trpcAccept, accept } = req.headers;
  return (
    req.method === 'POST' &&
    (type === undefined || type.startsWith('application/json')) &&
    trpcAccept === undefined &&
    !accept?.includes('application/jsonl')
  );
}

/** Handles `rest` (the URL after `/trpc/`) of a request that isFastRpcRequest accepted. */
export function createFastRpcHandler<TContext>(options: FastRpcOptions<TContext>) {
  const { router, maxBodySize } = options;
  const config = router._def._config;
  const procedures = router._def.procedures as Record<string, { _def: { type: TRPCProcedureType } }>;

  return async (req: http.IncomingMessage, res: http.ServerResponse, rest: string) => {
    const query = rest.indexOf('?');
    const paths = decodePath(query < 0 ? rest : rest.slice(0, query));
    const isBatch = query >= 0 && new URLSearchParams(rest.slice(query + 1)).get('batch') === '1';
    const calls: Call[] = (isBatch ? paths.split(',') : [paths]).map((path) => ({
      path,
      type: Object.hasOwn(procedures, path) ? procedures[path]._def.type : 'unknown',
    }));

    let ctx: TContext | undefined;
    let inputs: unknown[] = [];
    let failure: TRPCError | undefined;
    try {
      const [context, body] = await Promise.all([options.createContext(req), readBody(req, maxBodySize)]);
      ctx = context;
      inputs = parseInputs(body, calls.length, isBatch);
    } catch (cause) {
      failure = getTRPCErrorFromUnknown(cause);
    }

    const results = await Promise.all(
      calls.map(async ({ path, type }, index) => {
        try {
          if (failure) throw failure;
          if (type === 'unknown')
            throw new TRPCError({ code: 'NOT_FOUND', message: `No procedure found on path "${path}"` });
          const data: unknown = await callTRPCProcedure({
            router,
            path,
            type,
            ctx,
            getRawInput: () => Promise.resolve(inputs[index]),
            signal: undefined,
            batchIndex: index,
            allowMethodOverride: true,
          });
          return { status: 200, json: { result: { data } } };
        } catch (cause) {
          const error = getTRPCErrorFromUnknown(cause);
          options.onError(error, path);
          const shape = getTRPCErrorShape({ config, error, type, path, input: inputs[index], ctx });
          return { status: getHTTPStatusCodeFromError(error), json: { error: shape } };
        }
      }),
    );

    // As tRPC: one status for the batch when all calls agree, else 207 Multi-Status.
    const statuses = new Set(results.map((r) => r.status));
    const status = statuses.size === 1 ? results[0].status : 207;
    const text = JSON.stringify(isBatch ? results.map((r) => r.json) : results[0].json);
    // An oversize body is left unread: do not keep a connection that still has part of it in flight.
    if (failure?.code === 'PAYLOAD_TOO_LARGE') res.setHeader('connection', 'close');
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      vary: 'trpc-accept, accept',
    });
    res.end(text);
  };
}

/** A malformed escape stays as sent: it then names no procedure (NOT_FOUND). */
function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** The body as text; PAYLOAD_TOO_LARGE past `limit` bytes (the rest is then discarded unread). */
function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message: `body over ${limit} bytes` });
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      req.resume();
      return reject(tooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off('data', onData);
      req.resume();
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size).toString('utf8')));
    req.once('error', reject);
  });
}

/** One input per call: the body itself, or for a batch the body's `"<index>"` members. */
function parseInputs(body: string, calls: number, isBatch: boolean): unknown[] {
  if (body === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (cause) {
    throw new TRPCError({ code: 'PARSE_ERROR', message: 'the request body is not valid JSON', cause });
  }
  if (!isBatch) return [parsed];
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message: 'a batch body must be an object of inputs by index',
    });
  const byIndex = parsed as Record<string, unknown>;
  return Array.from({ length: calls }, (_, i) => byIndex[i]);
}
