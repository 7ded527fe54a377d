/** The one tRPC instance: context type, error shape (zod issues on BAD_REQUEST), auth and timing. */
import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import type { ServingContext, Scope } from './context.js';

const t = initTRPC.context<ServingContext>().create({
  errorFormatter({ shape, error }) {
    const zodIssues =
      error.code === 'BAD_REQUEST' && error.cause instanceof ZodError ? error.cause.issues : null;
    return { ...shape, data: { ...shape.data, zodIssues } };
  },
});

export const router = t.router;
export const mergeRouters = t.mergeRouters;
export const createCallerFactory = t.createCallerFactory;

const timed = t.middleware(async ({ ctx, path, next }) => {
  const started = performance.now();
  const result = await next();
  const code = result.ok ? 'OK' : result.error.code;
  ctx.deps.metrics.requestDuration.observe({ procedure: path, code }, (performance.now() - started) / 1000);
  if (!result.ok) ctx.deps.metrics.requestErrors.inc({ procedure: path, code });
  return result;
});

export const publicProcedure = t.procedure.use(timed);

/** Needs a valid key with `scope` (or `admin`); checked before the input is parsed. */
export function scopedProcedure(scope: Scope) {
  return publicProcedure.use(({ ctx, next }) => {
    if (!ctx.key) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'missing or invalid API key' });
    if (!ctx.key.scopes.includes(scope) && !ctx.key.scopes.includes('admin')) {
      throw new TRPCError({ code: 'FORBIDDEN', message: `API key "${ctx.key.name}" lacks scope ${scope}` });
    }
    return next({ ctx: { ...ctx, key: ctx.key } });
  });
}
