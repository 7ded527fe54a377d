/** The one tRPC instance: context type, error shape (zod issues on BAD_REQUEST), auth and timing. */
import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import type { AuthenticatedKey, ServingContext, Scope } from './context.js';

const t = initTRPC.context<ServingContext>().create({
  // Never stack traces in responses, whatever NODE_ENV says.
  isDev: false,
  errorFormatter({ shape, error }) {
    const zodIssues =
      error.code === 'BAD_REQUEST' && error.cause instanceof ZodError ? error.cause.issues : null;
    return { ...shape, data: { ...shape.data, zodIssues } };
  },
});

export const router = t.router;
export const mergeRouters = t.mergeRouters;
export const createCallerFactory = t.createCallerFactory;

/** One middleware per procedure for timing, error counts and auth: tRPC pays per layer. */
function guarded(scope: Scope) {
  return t.middleware(async ({ ctx, path, next }) => {
    const started = performance.now();
    let code = 'OK';
    try {
      authorize(ctx.key, scope);
      const result = await next({ ctx: { ...ctx, key: ctx.key } });
      if (!result.ok) code = result.error.code;
      return result;
    } catch (error) {
      code = error instanceof TRPCError ? error.code : 'INTERNAL_SERVER_ERROR';
      throw error;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      ctx.deps.metrics.requestDuration.observe({ procedure: path, code }, seconds);
      if (code !== 'OK') ctx.deps.metrics.requestErrors.inc({ procedure: path, code });
    }
  });
}

/** A valid key with `scope` (or `admin`). */
function authorize(key: AuthenticatedKey | null, scope: Scope): asserts key is AuthenticatedKey {
  if (!key) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'missing or invalid API key' });
  if (!key.scopes.includes(scope) && !key.scopes.includes('admin')) {
    throw new TRPCError({ code: 'FORBIDDEN', message: `API key "${key.name}" lacks scope ${scope}` });
  }
}

/** Needs a valid key with `scope` (or `admin`); checked before the input is parsed. */
export const scopedProcedure = (scope: Scope) => t.procedure.use(guarded(scope));
