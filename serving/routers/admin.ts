/** `admin.*` procedures: API key management (scope `admin`). */
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { createApiKey, listApiKeys, newApiKeySchema, revokeApiKey } from '../api-keys.js';
import { text } from '../input-text.js';
import { mutation, query, router } from '../trpc.js';

export const adminRouter = router({
  keys: router({
    /** The response carries the plain secret: the only time it is ever available. */
    create: mutation({
      scope: 'admin',
      input: newApiKeySchema,
      run: ({ deps }, input) => createApiKey(deps.db, input),
    }),
    revoke: mutation({
      scope: 'admin',
      input: z.object({ key: text().trim().min(1).max(100) }),
      async run({ deps }, input) {
        const revoked = await revokeApiKey(deps.db, input.key);
        // The message does not echo the input: it might be a secret pasted by mistake.
        if (revoked.length === 0)
          throw new TRPCError({ code: 'NOT_FOUND', message: 'no active API key with that id or name' });
        return revoked;
      },
    }),
    list: query({ scope: 'admin', input: z.void(), run: ({ deps }) => listApiKeys(deps.db) }),
  }),
});
