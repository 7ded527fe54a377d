/** `admin.*` procedures: API key management (scope `admin`). */
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { createApiKey, listApiKeys, newApiKeySchema, revokeApiKey } from '../api-keys.js';
import { router, scopedProcedure } from '../trpc.js';

const admin = scopedProcedure('admin');

export const adminRouter = router({
  keys: router({
    /** The response carries the plain secret: the only time it is ever available. */
    create: admin.input(newApiKeySchema).mutation(({ ctx, input }) => createApiKey(ctx.deps.db, input)),
    revoke: admin
      .input(z.object({ key: z.string().trim().min(1).max(100) }))
      .mutation(async ({ ctx, input }) => {
        const revoked = await revokeApiKey(ctx.deps.db, input.key);
        // The message does not echo the input: it might be a secret pasted by mistake.
        if (revoked.length === 0)
          throw new TRPCError({ code: 'NOT_FOUND', message: 'no active API key with that id or name' });
        return revoked;
      }),
    list: admin.query(({ ctx }) => listApiKeys(ctx.deps.db)),
  }),
});
