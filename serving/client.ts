/**
 * The typed client product services use: `import { createKaizenClient } from 'kaizen/client'`.
 * Calls made in the same tick go out as one HTTP request (httpBatchLink).
 */
import { createTRPCClient, httpBatchLink, type TRPCFetch } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { MAX_BATCH_CALLS } from './limits.js';
import type { AppRouter } from './router.js';

export type { AppRouter };
export type KaizenInputs = inferRouterInputs<AppRouter>;
export type KaizenOutputs = inferRouterOutputs<AppRouter>;
export { isTRPCClientError, TRPCClientError } from '@trpc/client';

export interface KaizenClientOptions {
  /** The server, e.g. `http://kaizen.internal:8080` (procedures are under `/trpc`). */
  url: string;
  apiKey: string;
  /** Another fetch (tests, proxies, instrumentation); the global one by default. */
  fetch?: TRPCFetch;
}

export function createKaizenClient({ url, apiKey, fetch }: KaizenClientOptions) {
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${url.replace(/\/+$/, '')}/trpc`,
        headers: { authorization: `Bearer ${apiKey}` },
        // Queries as POST too: entity lists can be longer than a URL may be.
        methodOverride: 'POST',
        // The server refuses larger batches; more calls in one tick go out as several requests.
        maxItems: MAX_BATCH_CALLS,
        fetch,
      }),
    ],
  });
}

export type KaizenClient = ReturnType<typeof createKaizenClient>;
