/**
 * bench:serve's tRPC baseline, run as its own process: tRPC v11's standalone adapter on node:http
 * with one query procedure, `features.get`, whose zod input has the shape of Kaizen's and whose
 * resolver returns a constant (the data of Kaizen's first features.get answer). No auth, no
 * middleware, no database: what tRPC's own HTTP path costs per request.
 * Usage: trpc-baseline-server.ts <port> <answer data as JSON>.
 */
import http from 'node:http';
import { initTRPC } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { z } from 'zod';

const [port, answer] = process.argv.slice(2);
const data: unknown = JSON.parse(answer);

const t = initTRPC.create();
const router = t.router({
  features: t.router({
    get: t.procedure
      .input(
        z.strictObject({
          features: z.array(z.string()).min(1),
          entities: z.array(z.record(z.string(), z.union([z.string(), z.array(z.string())]))).min(1),
        }),
      )
      .query(() => data),
  }),
});

// As Kaizen's server configures it: queries may come as POST (what its client sends).
const handler = createHTTPHandler({ router, basePath: '/trpc/', allowMethodOverride: true });
http.createServer(handler).listen(Number(port), '127.0.0.1');
