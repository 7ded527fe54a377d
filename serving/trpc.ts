/**
 * The one tRPC instance: context type, error shape (zod issues on BAD_REQUEST), auth and timing.
 * Every procedure is an Endpoint — a scope, a zod input schema and a plain typed function — turned
 * into a tRPC procedure by `query`/`mutation`: one middleware (auth, then timing and error counts),
 * tRPC's input parser, the function. In-process callers (createCaller) and HTTP (the standalone
 * adapter) run this same chain; there is no other path.
 */
import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError, type z } from 'zod';
import { isDatabaseUnavailable } from '../db/client.js';
import type { AuthenticatedKey, ServingContext, Scope } from './context.js';

const t = initTRPC.context<ServingContext>().create({
  // Never stack traces in responses, whatever NODE_ENV says.
  isDev: false,
  errorFormatter({ shape, error }) {
    const zodIssues =
      error.code === 'BAD_REQUEST' && error.cause instanceof ZodError ? error.cause.issues : null;
    // An internal failure's own message may quote a query and its parameters: the server logs it,
    // the caller learns only that it failed.
    const message = error.code === 'INTERNAL_SERVER_ERROR' ? 'internal server error' : shape.message;
    return { ...shape, message, data: { ...shape.data, zodIssues } };
  },
});

export const router = t.router;
export const mergeRouters = t.mergeRouters;
export const createCallerFactory = t.createCallerFactory;

/** What an endpoint's function sees: the caller's key has been checked for the endpoint's scope. */
export type AuthorizedContext = ServingContext & { key: AuthenticatedKey };

export interface Endpoint<TSchema extends z.ZodType = z.ZodType, TOutput = unknown> {
  /** Needed by the caller's key (`admin` implies every scope); checked before the input is parsed. */
  scope: Scope;
  input: TSchema;
  run(ctx: AuthorizedContext, input: z.output<TSchema>): Promise<TOutput>;
}

export function query<TSchema extends z.ZodType, TOutput>(endpoint: Endpoint<TSchema, TOutput>) {
  return guarded(endpoint.scope).input(endpoint.input).query(resolver(endpoint));
}

export function mutation<TSchema extends z.ZodType, TOutput>(endpoint: Endpoint<TSchema, TOutput>) {
  return guarded(endpoint.scope).input(endpoint.input).mutation(resolver(endpoint));
}

/** The tRPC resolver of an endpoint: guarded has authorized the key, the parser produced the input. */
const resolver =
  <TSchema extends z.ZodType, TOutput>(endpoint: Endpoint<TSchema, TOutput>) =>
  ({ ctx, input }: { ctx: ServingContext; input: unknown }) =>
    endpoint.run(ctx as AuthorizedContext, input as z.output<TSchema>);

/** Auth, then timing and error counts of everything after it; one middleware: tRPC pays per layer. */
function guarded(scope: Scope) {
  return t.procedure.use(async ({ ctx, path, next }) => {
    const started = performance.now();
    try {
      authorize(ctx.key, scope);
    } catch (error) {
      observeCall(ctx, path, started, error);
      throw error;
    }
    const result = await next();
    // Only failures of the procedure itself: a client's error quoting such words stays the client's.
    if (
      !result.ok &&
      result.error.code === 'INTERNAL_SERVER_ERROR' &&
      isDatabaseUnavailable(result.error.cause)
    ) {
      // The database is away (restarting, unreachable): 503, which clients and balancers retry.
      const unavailable = new TRPCError({
        code: 'SERVICE_UNAVAILABLE',
        message: 'the database is unavailable; retry shortly',
        cause: result.error,
      });
      observeCall(ctx, path, started, unavailable);
      throw unavailable;
    }
    observeCall(ctx, path, started, result.ok ? null : result.error);
    return result;
  });
}

function observeCall(ctx: ServingContext, path: string, started: number, error: unknown): void {
  const code = error === null ? 'OK' : error instanceof TRPCError ? error.code : 'INTERNAL_SERVER_ERROR';
  ctx.deps.metrics.observeRequest(path, code, (performance.now() - started) / 1000);
}

/** A valid key with `scope` (or `admin`). */
function authorize(key: AuthenticatedKey | null, scope: Scope): asserts key is AuthenticatedKey {
  if (!key) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'missing or invalid API key' });
  if (!key.scopes.includes(scope) && !key.scopes.includes('admin')) {
    throw new TRPCError({ code: 'FORBIDDEN', message: `API key "${key.name}" lacks scope ${scope}` });
  }
}
