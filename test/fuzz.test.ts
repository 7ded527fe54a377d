/**
 * bench:fuzz at CI size, fixed seeds: 1k malformed source rows through two views (every row written
 * or quarantined with the reason its fault calls for; a second run writes nothing), then 1k hostile
 * requests to a `kaizen serve` process over those stores (no 5xx, every error a typed tRPC error,
 * memory bounded, healthy and right afterwards, a clean shutdown).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { send, type RequestContext } from '../bench/fuzz-requests.js';
import type { FuzzSource } from '../bench/fuzz-rows.js';
import {
  fuzzRequests,
  fuzzSourceRows,
  LABEL_SOURCE,
  MODEL,
  PLAIN_VIEW,
  prepareServing,
  startServerProcess,
  type ServerProcess,
} from '../bench/fuzz-suite.js';
import { createKaizenClient } from '../serving/client.js';
import { MAX_BATCH_CALLS } from '../serving/limits.js';
import { startIntegration, type Integration } from './support/integration.js';

const MAX_BODY_BYTES = 1_048_576;
const MAX_ROWS = 1000;

describe('fuzzing: malformed rows and hostile requests (Postgres + Temporal + kaizen serve)', () => {
  let env: Integration;
  let server: ServerProcess | undefined;
  let source: FuzzSource | undefined;
  let context: RequestContext | undefined;

  before(async () => {
    env = await startIntegration();
  });

  after(async () => {
    await server?.stop();
    await env?.close();
  });

  test('1k fuzzed rows: each written or quarantined with its reason, nothing twice', async (t) => {
    const run = await fuzzSourceRows(env, { rows: 1000, seed: 15, maxHuge: 4 });
    t.diagnostic(JSON.stringify(run.figures));
    source = run.source;
    assert.deepEqual(run.violations, []);
    const { figures } = run;
    assert.equal(figures.written + figures.quarantined, figures.total);
    assert.ok(figures.quarantined > 300 && figures.written > 300, JSON.stringify(figures));
    assert.equal(figures.rerun_rows_written, 0);
    // Every kind of fault occurred, and so did every reason.
    assert.ok(Object.keys(source.faults).length >= 20, JSON.stringify(source.faults));
    for (const reason of [
      'malformed row',
      'missing timestamp',
      'timestamp out of range',
      'missing entity key',
      'entity key too long',
      'invalid text',
      'wrong type',
      'non-finite value',
      'int64 not exactly representable',
    ])
      assert.ok(figures.by_reason[reason] > 0, `${reason}: ${JSON.stringify(figures.by_reason)}`);
    assert.ok(figures.huge_strings > 0);
  });

  test('1k fuzzed requests: no 5xx, typed errors, memory bounded, healthy and right afterwards', async (t) => {
    assert.ok(source, 'needs the materialized rows');
    const keys = [...new Set(source.rows.flatMap((row) => (row.fault || !row.typed ? [] : [row.typed.key])))];
    const ctx = {
      ...(await prepareServing(env, keys.slice(0, 40))),
      maxRows: MAX_ROWS,
      maxBodyBytes: MAX_BODY_BYTES,
    };
    context = ctx;
    server = await startServerProcess(env, {
      KAIZEN_SERVE_MAX_ROWS: String(MAX_ROWS),
      KAIZEN_SERVE_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
    });
    const { figures, violations } = await fuzzRequests(server, ctx, {
      requests: 1000,
      seed: 15,
      concurrency: 4,
    });
    t.diagnostic(JSON.stringify(figures));
    assert.deepEqual(violations, []);
    assert.equal(figures.server_errors, 0);
    assert.equal(figures.total, 1000);
    assert.ok(figures.healthy_after);
    assert.ok((figures.by_status['200'] ?? 0) > 100, JSON.stringify(figures.by_status));
    assert.ok((figures.by_status['400'] ?? 0) > 100, JSON.stringify(figures.by_status));
    assert.ok(figures.max_rss_mb < figures.rss_start_mb + 512, JSON.stringify(figures));
  });

  test('what the fuzzing found: typed answers where there were 500s and bare status lines', async () => {
    assert.ok(server && context, 'needs the server');
    const agent = new http.Agent({ keepAlive: true });
    const admin = { authorization: `Bearer ${context.secrets.admin}` };
    const call = async (method: string, route: string, body?: unknown) => {
      const answer = await send(
        server!.url,
        {
          kind: 'regression',
          method,
          path: route,
          headers: { ...admin, 'content-type': 'application/json' },
          body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
        },
        agent,
      );
      const json = JSON.parse(answer.body.toString());
      return { status: answer.status, json, code: json.error?.data?.code as string | undefined };
    };
    const randomKey = (n: number) => randomBytes(n).toString('hex').slice(0, n);
    // NUL and unpaired surrogates: a database error (500) before, BAD_REQUEST at the boundary now.
    for (const [route, input] of [
      ['models.history', { model: 'fuzz\0' }],
      ['models.get', { model: '\ud800' }],
      ['predict', { model: MODEL, entities: [{ airport: 'S\0FO' }] }],
      [
        'feedback.record',
        { labels: [{ source: LABEL_SOURCE, entities: { airport: 'S\0' }, eventTime: 0, label: 1 }] },
      ],
    ] as const) {
      const { status, code } = await call('POST', `/trpc/${route}`, input);
      assert.deepEqual([status, code], [400, 'BAD_REQUEST'], `${route} ${JSON.stringify(input)}`);
    }
    // Times zod's ISO check accepts that Postgres does not (no year 0): a failed query (500) before.
    for (const since of ['0000-01-01T00:00:00Z', '1800-01-01T00:00:00Z']) {
      const { status, code } = await call('POST', '/trpc/models.monitoring', { model: MODEL, since });
      assert.deepEqual([status, code], [400, 'BAD_REQUEST'], since);
    }
    // A key no store can hold: refused (it used to be looked up, cached, and failed the labels' index).
    const long = await call('POST', '/trpc/features.get', {
      features: [`${PLAIN_VIEW}:delay`],
      entities: [{ airport: randomKey(3000) }],
    });
    assert.equal(long.status, 400);
    assert.match(long.json.error.message, /3000 bytes, at most 1024/);
    const events = await call('POST', '/trpc/feedback.record', {
      labels: [
        { source: LABEL_SOURCE, entities: { airport: randomKey(3000) }, eventTime: 0, label: 1 },
        { source: LABEL_SOURCE, entities: { airport: 'SFO' }, eventTime: 1e20, label: 1 },
        { source: LABEL_SOURCE, entities: { airport: 'SFO' }, eventTime: '9999-12-31T00:00:00Z', label: 1 },
      ],
    });
    assert.equal(events.status, 200, JSON.stringify(events.json));
    assert.deepEqual(
      events.json.result.data.outcomes.map((o: { outcome: string; reason: string }) => [
        o.outcome,
        /bytes|outside/.test(o.reason),
      ]),
      [
        ['invalid_event', true],
        ['invalid_event', true],
        ['invalid_event', true],
      ],
    );
    // Batches: over 100 calls refused by tRPC; over Node's 16 KB of headers, a JSON error, not a bare 431.
    const batch = (calls: number) => `/trpc/${Array(calls).fill('models.list').join(',')}?batch=1`;
    const over = await call('GET', batch(MAX_BATCH_CALLS + 1));
    assert.deepEqual([over.status, over.code], [400, 'BAD_REQUEST']);
    const huge = await call('GET', batch(1500));
    assert.deepEqual([huge.status, huge.code], [431, 'BAD_REQUEST']);
    agent.destroy();
    // The typed client splits what it batches at the server's limit: 150 calls in one tick all answer.
    const client = createKaizenClient({ url: server.url.origin, apiKey: context.secrets.admin });
    const lists = await Promise.all(Array.from({ length: 150 }, () => client.models.list.query()));
    assert.ok(lists.every((models) => models.some((m) => m.name === MODEL)));

    assert.equal(await server.stop(), 0, 'a clean shutdown');
    server = undefined;
  });
});
