/**
 * tRPC's HTTP protocol for the requests product services send — POST with a JSON body, one call or
 * a batch (`/trpc/a,b?batch=1`, body `{"0": input, "1": input}`) — answered straight from node:http.
 * The standalone adapter turns every request into a Fetch `Request`, `AbortSignal`s, streams and a
 * `Response` first: on Node 20 that costs ~0.3 ms of CPU per request, several times the work of a
 * cached `features.get`. Calls run the procedures' endpoints directly (callEndpoint: the same auth,
 * parsing and metrics as the tRPC chain, without its per-middleware copies of the call options);
 * error shapes (errorFormatter) and status codes are tRPC's own. Everything else (GET, other content
 * types) goes to the adapter.
 */
import type http from 'node:http';
import {
  getTRPCErrorFromUnknown,
  getTRPCErrorShape,
  TRPCError,
  type AnyTRPCProcedure,
  type AnyTRPCRouter,
  type TRPCProcedureType,
} from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import type { ServingContext } from './context.js';
import { createResponseBurst } from './response-burst.js';
import { callEndpoint, endpointOf, type Endpoint } from './trpc.js';

export interface FastRpcOptions<TContext extends ServingContext> {
  router: AnyTRPCRouter;
  createContext(req: http.IncomingMessage): Promise<TContext>;
  maxBodySize: number;
  onError(error: TRPCError, path: string): void;
  /** A response could not be written (its connection is then destroyed). */
  onWriteError(error: unknown): void;
}

interface Call {
  path: string;
  type: TRPCProcedureType | 'unknown';
  endpoint: Endpoint | undefined;
}

interface Answer {
  status: number;
  json: unknown;
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
export function createFastRpcHandler<TContext extends ServingContext>(options: FastRpcOptions<TContext>) {
  const { router, maxBodySize } = options;
  const config = router._def._config;
  const send = createResponseBurst(options.onWriteError);
  const calls = new Map<string, Call>();
  for (const [path, procedure] of Object.entries(router._def.procedures)) {
    const endpoint = endpointOf(procedure);
    if (!endpoint)
      throw new Error(`procedure ${path} was not built by query() or mutation() of serving/trpc`);
    calls.set(path, { path, type: (procedure as AnyTRPCProcedure)._def.type, endpoint });
  }
  const lookup = (path: string): Call => calls.get(path) ?? { path, type: 'unknown', endpoint: undefined };

  /** One call's answer: its data, or its error shaped as tRPC shapes it. */
  async function answer(call: Call, ctx: TContext, input: unknown): Promise<Answer> {
    try {
      const { path, endpoint } = call;
      if (!endpoint)
        throw new TRPCError({ code: 'NOT_FOUND', message: `No procedure found on path "${path}"` });
      return { status: 200, json: { result: { data: await callEndpoint(endpoint, ctx, path, input) } } };
    } catch (cause) {
      return failed(call, cause, ctx, input);
    }
  }

  function failed(call: Call, cause: unknown, ctx: TContext | undefined, input: unknown): Answer {
    const error = getTRPCErrorFromUnknown(cause);
    options.onError(error, call.path);
    const shape = getTRPCErrorShape({ config, error, type: call.type, path: call.path, input, ctx });
    return { status: getHTTPStatusCodeFromError(error), json: { error: shape } };
  }

  return async (req: http.IncomingMessage, res: http.ServerResponse, rest: string) => {
    const query = rest.indexOf('?');
    const paths = decodePath(query < 0 ? rest : rest.slice(0, query));
    const isBatch = query >= 0 && new URLSearchParams(rest.slice(query + 1)).get('batch') === '1';
    const batch = isBatch ? paths.split(',').map(lookup) : [lookup(paths)];

    let ctx: TContext | undefined;
    let inputs: unknown[] = [];
    let answers: Answer[];
    try {
      const context = (ctx = await options.createContext(req));
      inputs = parseInputs(await readBody(req, maxBodySize), batch.length, isBatch);
      answers = isBatch
        ? await Promise.all(batch.map((call, i) => answer(call, context, inputs[i])))
        : [await answer(batch[0], context, inputs[0])];
    } catch (cause) {
      answers = batch.map((call, i) => failed(call, cause, ctx, inputs[i]));
      // The rest of an oversize body may still be arriving (read and dropped): do not keep the connection.
      if (cause instanceof TRPCError && cause.code === 'PAYLOAD_TOO_LARGE')
        res.setHeader('connection', 'close');
    }

    // As tRPC: one status for the batch when all calls agree, else 207 Multi-Status.
    const status = answers.every((a) => a.status === answers[0].status) ? answers[0].status : 207;
    const text = JSON.stringify(isBatch ? answers.map((a) => a.json) : answers[0].json);
    send(
      res,
      status,
      {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        vary: 'trpc-accept, accept',
      },
      text,
    );
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
  if (Number(req.headers['content-length'] ?? 0) > limit) {
    req.resume();
    return Promise.reject(payloadTooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Inline listeners: this runs per request, and a named closure costs a name assignment (tsx).
    req.on('data', (chunk: Buffer) => {
      if (size > limit) return; // refused already: the rest is read and dropped
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else reject(payloadTooLarge(limit));
    });
    req.once('end', () => resolve(Buffer.concat(chunks, size).toString('utf8')));
    req.once('error', reject);
  });
}

const payloadTooLarge = (limit: number) =>
  new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message: `body over ${limit} bytes` });

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
