/**
 * Seeded hostile HTTP requests to a Kaizen server's tRPC endpoints for bench:fuzz and
 * test/fuzz.test.ts: bad JSON, wrong types, hostile strings (NUL, lone surrogates, 1 MB), huge
 * arrays near and over the row limit, 10k-level nesting, unknown procedures, views, features and
 * models, wrong methods and content types, invalid UTF-8 bodies, batches of up to 2,000 calls, with
 * every kind of API key. And the checks of each answer: never a 5xx, a tRPC error shape with its
 * code on every error.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { MAX_BATCH_CALLS } from '../serving/limits.js';
import { between, mulberry32, pick, type Rng } from './fuzz-rows.js';

export interface RequestContext {
  model: string;
  /** The model's input column (`<view>__<feature>`). */
  inputColumn: string;
  /** Valid `view:feature` refs. */
  featureRefs: string[];
  /** Valid entity keys (join key `airport`). */
  keys: string[];
  labelSource: string;
  secrets: { admin: string; predict: string; features: string; revoked: string };
  maxRows: number;
  maxBodyBytes: number;
}

export interface FuzzRequest {
  kind: string;
  method: string;
  /** Path and query. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** A well-formed call: must answer 200 (or one of `expect`). */
  valid?: boolean;
  expect?: number[];
}

/** A JSON text spliced in as it is (deep nesting, duplicate keys, invalid bytes). */
class Raw {
  constructor(readonly text: string | Buffer) {}
}
type Value = null | boolean | number | string | Raw | Value[] | { [key: string]: Value | undefined };

/** JSON of a value with Raw fragments; never recursion deeper than the value itself. */
function serialize(value: Value): Buffer {
  const parts: Array<string | Buffer> = [];
  const walk = (v: Value): void => {
    if (v instanceof Raw) parts.push(v.text);
    else if (Array.isArray(v)) {
      parts.push('[');
      v.forEach((item, i) => {
        if (i) parts.push(',');
        walk(item);
      });
      parts.push(']');
    } else if (v !== null && typeof v === 'object') {
      parts.push('{');
      Object.entries(v)
        .filter((entry): entry is [string, Value] => entry[1] !== undefined)
        .forEach(([k, item], i) => {
          parts.push(`${i ? ',' : ''}${JSON.stringify(k)}:`);
          walk(item);
        });
      parts.push('}');
    } else parts.push(JSON.stringify(v));
  };
  walk(value);
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
}

const deepArray = (depth: number) => new Raw(`${'['.repeat(depth)}1${']'.repeat(depth)}`);
const deepObject = (depth: number) => new Raw(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);

type Procedure =
  | 'features.get'
  | 'predict'
  | 'models.list'
  | 'models.get'
  | 'models.history'
  | 'models.monitoring'
  | 'feedback.record'
  | 'admin.keys.list'
  | 'admin.keys.revoke'
  | 'admin.keys.create';

const QUERIES = new Set<string>([
  'features.get',
  'models.list',
  'models.get',
  'models.history',
  'models.monitoring',
  'admin.keys.list',
]);
const PROCEDURES: Procedure[] = [
  'features.get',
  'features.get',
  'predict',
  'predict',
  'predict',
  'models.list',
  'models.get',
  'models.history',
  'models.monitoring',
  'feedback.record',
  'feedback.record',
  'admin.keys.list',
  'admin.keys.revoke',
  'admin.keys.create',
];

export class RequestFuzzer {
  private readonly rng: Rng;
  /** Huge strings, by size: built once, reused. */
  private readonly strings = new Map<number, string>();
  /** Bodies of many rows, by procedure and rows: built once, sent again. */
  private readonly bodies = new Map<string, Buffer>();

  constructor(
    private readonly ctx: RequestContext,
    seed: number,
  ) {
    this.rng = mulberry32(seed);
  }

  private huge(size: number): string {
    let s = this.strings.get(size);
    if (!s) this.strings.set(size, (s = 'ÿ'.repeat(size >> 1)));
    return s;
  }

  /** A valid input of `procedure` (200 with the admin key). */
  validInput(procedure: Procedure): Value {
    const { rng, ctx } = this;
    const key = () => pick(rng, ctx.keys);
    const rows = between(rng, 1, 5);
    switch (procedure) {
      case 'features.get':
        return rng() < 0.8
          ? {
              features: ctx.featureRefs.filter((_, i) => i === 0 || rng() < 0.6),
              entities: Array.from({ length: rows }, () => ({ airport: key() })),
            }
          : { featureService: ctx.model, entities: [{ airport: key() }] };
      case 'predict':
        return rng() < 0.5
          ? {
              model: ctx.model,
              features: Array.from({ length: rows }, () => ({ [ctx.inputColumn]: rng() * 10 - 5 })),
            }
          : { model: ctx.model, entities: Array.from({ length: rows }, () => ({ airport: key() })) };
      case 'models.list':
      case 'admin.keys.list':
        return null;
      case 'models.get':
        return { model: ctx.model };
      case 'models.history':
        return { model: ctx.model, limit: between(rng, 1, 1000) };
      case 'models.monitoring':
        return { model: ctx.model, since: '2001-01-01T00:00:00Z', limit: 5 };
      case 'feedback.record':
        return {
          labels: Array.from({ length: rows }, () =>
            rng() < 0.5
              ? { predictionId: randomUUID(), label: pick(rng, [0, 1, true, false]) }
              : {
                  source: ctx.labelSource,
                  entities: { airport: key() },
                  eventTime: pick(rng, ['2001-01-10T10:00:00Z', Date.UTC(2001, 0, 9)]),
                  label: pick(rng, [0, 1]),
                },
          ),
        };
      case 'admin.keys.revoke':
        return { key: `fuzz-absent-${between(rng, 0, 1e6)}` };
      case 'admin.keys.create':
        return { name: `fuzz-${between(rng, 0, 1e9)}`, scopes: ['predict'] };
    }
  }

  /** Something no schema expects at that place. */
  hostile(): Value {
    const { rng, ctx } = this;
    switch (between(rng, 0, 17)) {
      case 0:
        return pick(rng, [null, true, false, 0, -0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1]);
      case 1:
        return pick(rng, ['', ' ', '\t', 'x', 'null', 'undefined', 'NaN', '-Infinity']);
      case 2:
        return pick(rng, ['\0', 'S\0FO', 'a\u0000b', '\ud800', 'x\udc00', '\ud83d', '\uffff', '\u202e']);
      case 3:
        return pick(rng, ['🛫', 'é'.repeat(600), 'ü'.repeat(2000), '東京'.repeat(100)]);
      case 4:
        return this.huge(between(rng, 10_000, Math.min(900_000, ctx.maxBodyBytes - 1000)));
      case 5:
        return pick(rng, [{}, [], [null], { a: 1 }, [[]], [{}]]);
      case 6:
        return rng() < 0.5 ? deepArray(between(rng, 100, 10_000)) : deepObject(between(rng, 100, 10_000));
      case 7:
        return Array.from({ length: pick(rng, [ctx.maxRows, ctx.maxRows + 1, 5_000]) }, (_, i) => i);
      case 8:
        return Object.fromEntries(Array.from({ length: between(rng, 1000, 10_000) }, (_, i) => [`k${i}`, i]));
      case 9:
        return new Raw(pick(rng, ['{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"x":1}}}']));
      case 10:
        return pick(rng, ["'; DROP TABLE kaizen.models; --", '../../etc/passwd', '${7*7}', '%00', '\\', '"']);
      case 11:
        return pick(rng, [
          'no_such_view:x',
          'fuzz_plain@v99:delay',
          'fuzz_plain:nope',
          'fuzz_plain',
          ':',
          '@v1:x',
        ]);
      case 12:
        return pick(rng, ['no_such_model', 'FUZZ_DELAYS', 'fuzz_delays ', 'a'.repeat(101), '-']);
      case 13:
        return pick(rng, ['2001-13-01T00:00:00Z', '+275760-09-13T00:00:00.000Z', '0000-01-01T00:00:00Z']);
      case 14:
        return pick(rng, [8.64e15 + 1, -8.64e15 - 1, 1e20, -1e20, 0.5]);
      case 15:
        return new Raw(pick(rng, ['{"a":1,"a":2}', '1e999', '-1e999', '123456789012345678901234567890']));
      case 16:
        return Array.from({ length: between(rng, 2, 50) }, () => ({ airport: pick(rng, ctx.keys) }));
      default:
        return randomUUID();
    }
  }

  /** `value` with one random place replaced, removed or added to. */
  mutate(value: Value): Value {
    const { rng } = this;
    if (value === null || typeof value !== 'object' || value instanceof Raw || rng() < 0.1)
      return this.hostile();
    if (Array.isArray(value)) {
      const copy = [...value];
      const i = between(rng, 0, Math.max(0, copy.length - 1));
      if (rng() < 0.15) copy.splice(i, 1);
      else copy[i] = this.mutate(copy[i] ?? null);
      return copy;
    }
    const copy = { ...value };
    const keys = Object.keys(copy);
    const r = rng();
    if (r < 0.1 && keys.length) delete copy[pick(rng, keys)];
    else if (r < 0.2)
      copy[pick(rng, ['extra', 'airport', 'model', 'features', 'entities', 'replace', ''])] = this.hostile();
    else if (keys.length) {
      const k = pick(rng, keys);
      copy[k] = this.mutate(copy[k] ?? null);
    }
    return copy;
  }

  private auth(): Record<string, string> {
    const { rng, ctx } = this;
    const r = rng();
    if (r < 0.85) return { authorization: `Bearer ${ctx.secrets.admin}` };
    return pick<Record<string, string>>(rng, [
      {},
      { authorization: `Bearer ${ctx.secrets.predict}` },
      { authorization: `Bearer ${ctx.secrets.features}` },
      { authorization: `Bearer ${ctx.secrets.revoked}` },
      { 'x-api-key': ctx.secrets.admin },
      { authorization: 'Bearer kz_nope' },
      { authorization: 'Bearer' },
      { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
      { authorization: `Bearer ${'k'.repeat(8000)}` },
      { 'x-api-key': '\u00ff\u00fe' },
      { authorization: `Bearer ${ctx.secrets.admin}`, 'x-api-key': 'kz_wrong' },
    ]);
  }

  /** One call's HTTP request: GET for queries (POST when long, or sometimes), POST for mutations. */
  private call(procedure: string, input: Value, headers: Record<string, string>, kind: string): FuzzRequest {
    const body = input === null ? undefined : serialize(input);
    const query = QUERIES.has(procedure);
    if (query && (!body || body.length < 6000) && this.rng() < 0.7) {
      const search = body ? `?input=${encodeURIComponent(body.toString())}` : '';
      return { kind, method: 'GET', path: `/trpc/${procedure}${search}`, headers };
    }
    return {
      kind,
      method: 'POST',
      path: `/trpc/${procedure}`,
      headers: { 'content-type': 'application/json', ...headers },
      body,
    };
  }

  next(): FuzzRequest {
    const { rng, ctx } = this;
    const procedure = pick(rng, PROCEDURES);
    const r = rng();
    if (r < 0.1) {
      const admin = { authorization: `Bearer ${ctx.secrets.admin}` };
      const request = this.call(procedure, this.validInput(procedure), admin, 'valid');
      // No key of that name: revoking it is NOT_FOUND.
      return { ...request, valid: true, expect: procedure === 'admin.keys.revoke' ? [404] : [200] };
    }
    if (r < 0.5) {
      let input = this.validInput(procedure);
      for (let m = between(rng, 1, 2); m > 0; m--) input = this.mutate(input);
      return this.call(procedure, input, this.auth(), 'wrong_input');
    }
    if (r < 0.6) return this.badJson(procedure);
    if (r < 0.65) return this.invalidUtf8(procedure);
    if (r < 0.73) return this.contentType(procedure);
    if (r < 0.83) return this.batch();
    if (r < 0.88) return { ...this.call(procedure, this.validInput(procedure), this.auth(), 'auth') };
    if (r < 0.95) return this.routing(procedure);
    return this.oversized(procedure);
  }

  private post(kind: string, procedure: string, body: Buffer | string, contentType?: string): FuzzRequest {
    return {
      kind,
      method: 'POST',
      path: `/trpc/${procedure}`,
      headers: {
        ...(contentType === undefined ? {} : { 'content-type': contentType }),
        authorization: `Bearer ${this.ctx.secrets.admin}`,
      },
      body: Buffer.from(body),
    };
  }

  private badJson(procedure: string): FuzzRequest {
    const { rng } = this;
    const valid = serialize(this.validInput(procedure as Procedure) ?? {}).toString();
    const body = pick(rng, [
      '',
      '{',
      '{"model":',
      'nul',
      'NaN',
      '{"a":1}}',
      "{'model':'x'}",
      '{"model":"x",}',
      '[1,2',
      '\0',
      '\ufeff{"model":"fuzz_delays"}',
      valid.slice(0, between(rng, 0, valid.length)),
      `${valid}garbage`,
      '['.repeat(between(rng, 1000, 100_000)),
      '{"a":'.repeat(between(rng, 1000, 50_000)),
      Buffer.from(Array.from({ length: between(rng, 1, 2000) }, () => between(rng, 0, 255))).toString(
        'latin1',
      ),
    ]);
    return this.post('bad_json', procedure, body, 'application/json');
  }

  private invalidUtf8(procedure: string): FuzzRequest {
    const { rng, ctx } = this;
    const bad = Buffer.from(
      pick(rng, [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80]]),
    );
    const body =
      procedure === 'predict'
        ? [`{"model":"${ctx.model}","entities":[{"airport":"S`, bad, 'O"}]}']
        : procedure === 'features.get'
          ? [`{"features":["${ctx.featureRefs[0]}"],"entities":[{"airport":"`, bad, '"}]}']
          : ['{"model":"', bad, '"}'];
    return this.post(
      'invalid_utf8',
      procedure,
      Buffer.concat(body.map((p) => Buffer.from(p))),
      'application/json',
    );
  }

  private contentType(procedure: string): FuzzRequest {
    const { rng } = this;
    const body = serialize(this.validInput(procedure as Procedure) ?? {});
    const type = pick(rng, [
      undefined,
      'text/plain',
      'application/octet-stream',
      'application/x-www-form-urlencoded',
      'multipart/form-data',
      'multipart/form-data; boundary=xyz',
      'application/json; charset=utf-16',
      'APPLICATION/JSON',
      'application/jsonl',
      'image/png',
      '',
    ]);
    const multipart =
      type?.startsWith('multipart') && rng() < 0.5
        ? Buffer.from('--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nfuzz\r\n--xyz--\r\n')
        : body;
    return this.post('content_type', procedure, multipart, type);
  }

  private batch(): FuzzRequest {
    const { rng, ctx } = this;
    // Around the server's limit of calls, and far over it: URLs over Node's 16 KB of headers.
    const size = pick(rng, [1, 2, 5, 50, 100, 101, 500, between(rng, 1000, 2000)]);
    const mixed = rng() < 0.2;
    const queries = rng() < 0.5;
    const choices = PROCEDURES.filter((p) => mixed || QUERIES.has(p) === queries);
    const paths = Array.from({ length: size }, () =>
      rng() < 0.05 ? pick(rng, ['nope', 'models.nope', 'admin', '']) : pick(rng, choices),
    );
    const inputs: Record<string, Value> = {};
    // Over the limit of calls, the batch is refused before any input is read.
    if (size <= MAX_BATCH_CALLS + 1)
      paths.forEach((p, i) => {
        if (rng() < 0.9)
          inputs[String(i)] = PROCEDURES.includes(p as Procedure) ? this.validInput(p as Procedure) : {};
      });
    // A few calls of the batch with a bad input: the others must still answer.
    for (let m = size <= MAX_BATCH_CALLS + 1 ? between(rng, 0, 3) : 0; m > 0; m--) {
      const i = String(between(rng, 0, size - 1));
      inputs[i] = this.mutate(inputs[i] ?? null);
    }
    const body = pick(rng, [serialize(inputs), serialize(inputs), serialize([inputs]), Buffer.from('"x"')]);
    const headers = { authorization: `Bearer ${ctx.secrets.admin}` };
    const path = `/trpc/${paths.join(',')}?batch=1`;
    // Refused by the HTTP parser: no body (a body the server never reads would reset the connection).
    if (path.length > 14_000) return { kind: 'batch', method: 'GET', path, headers };
    if (queries && !mixed && body.length < 6000 && rng() < 0.5)
      return {
        kind: 'batch',
        method: 'GET',
        path: `${path}&input=${encodeURIComponent(body.toString())}`,
        headers,
      };
    return {
      kind: 'batch',
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', ...headers },
      body,
    };
  }

  private routing(procedure: string): FuzzRequest {
    const { rng, ctx } = this;
    const headers = { authorization: `Bearer ${ctx.secrets.admin}`, 'content-type': 'application/json' };
    const path = pick(rng, [
      '/trpc/nope',
      '/trpc/models.nope',
      '/trpc/',
      '/trpc/%ZZ',
      '/trpc/predict/extra',
      '/trpc/__proto__',
      '/trpc/constructor',
      '/trpc/models.__proto__',
      '/trpc/toString',
      '/trpc/features.get?input=%',
      '/trpc/features.get?input=%7B',
      '/trpc/features.get?batch=1&input=%5B%5D',
      '/trpc/models.list?batch=2',
      `/trpc/${procedure}?connectionParams=%7B`,
      `/trpc/${procedure}?connectionParams=${encodeURIComponent('{"a":1}')}`,
      `/trpc/${'a.'.repeat(2000)}b`,
      `/trpc/${procedure}`,
    ]);
    const method = pick(rng, ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
    const body = method === 'GET' || method === 'OPTIONS' ? undefined : Buffer.from('{}');
    return { kind: 'routing', method, path, headers, body };
  }

  private oversized(procedure: string): FuzzRequest {
    const { rng, ctx } = this;
    // Near the body limit on either side, or many rows: over the row limit, or at it.
    const r = rng();
    if (r < 0.4) {
      const size = ctx.maxBodyBytes + between(rng, -200, 200) - 40;
      const body = `{"model":"${ctx.model}","features":[{"${'x'.repeat(Math.max(1, size))}":1}]}`;
      return this.post('oversized', procedure, body, 'application/json');
    }
    const rows = pick(rng, [ctx.maxRows, ctx.maxRows + 1, 20_000]);
    const name = procedure === 'features.get' || procedure === 'feedback.record' ? procedure : 'predict';
    const cached = this.bodies.get(`${name}:${rows}`);
    if (cached) return this.post('oversized', name, cached, 'application/json');
    const body =
      procedure === 'features.get'
        ? {
            features: [ctx.featureRefs[0]],
            entities: Array.from({ length: rows }, () => ({ airport: 'SFO' })),
          }
        : procedure === 'feedback.record'
          ? { labels: Array.from({ length: rows }, () => ({ predictionId: randomUUID(), label: 1 })) }
          : {
              model: ctx.model,
              features: Array.from({ length: rows }, (_, i) => ({ [ctx.inputColumn]: i })),
            };
    const bytes = serialize(body);
    this.bodies.set(`${name}:${rows}`, bytes);
    return this.post('oversized', name, bytes, 'application/json');
  }
}

// ---------------------------------------------------------------------------------------------
// Sending and checking

export interface Answer {
  /** HTTP status; 0 when the connection failed or timed out (`error` says which). */
  status: number;
  body: Buffer;
  error?: string;
}

export function send(url: URL, request: FuzzRequest, agent: http.Agent, timeoutMs = 30_000): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: request.method,
        path: request.path,
        agent,
        headers: { ...request.headers, ...(request.body ? { 'content-length': request.body.length } : {}) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', (error) =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), error: error.message }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) => resolve({ status: 0, body: Buffer.alloc(0), error: error.message }));
    req.end(request.body);
  });
}

interface TrpcError {
  message: string;
  code: number;
  data: { code: string; httpStatus: number; stack?: unknown };
}

/** What is wrong with an answer, or null: no 5xx, every error a tRPC error with a code, valid calls 200. */
export function checkAnswer(request: FuzzRequest, answer: Answer): string | null {
  if (answer.status === 0) return `no answer (${answer.error})`;
  if (answer.status >= 500) return `HTTP ${answer.status}: ${answer.body.toString().slice(0, 300)}`;
  if (request.valid && !(request.expect ?? [200]).includes(answer.status))
    return `a valid call answered ${answer.status}: ${answer.body.toString().slice(0, 300)}`;
  if (!request.path.startsWith('/trpc/') || request.method === 'HEAD') return null;
  let body: unknown;
  try {
    body = JSON.parse(answer.body.toString());
  } catch {
    return `HTTP ${answer.status} with a body that is not JSON: ${answer.body.toString().slice(0, 100)}`;
  }
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) return `HTTP ${answer.status} with an empty batch`;
  for (const item of items as Array<{ result?: unknown; error?: TrpcError }>) {
    if (item?.error) {
      const { error } = item;
      if (
        typeof error.data?.code !== 'string' ||
        typeof error.code !== 'number' ||
        typeof error.message !== 'string'
      )
        return `HTTP ${answer.status}: not a tRPC error shape: ${JSON.stringify(error).slice(0, 200)}`;
      if (error.data.stack !== undefined) return 'a stack trace in the answer';
      if (error.data.httpStatus >= 500)
        return `an error of status ${error.data.httpStatus}: ${error.message}`;
    } else if (!item || !('result' in item)) {
      return `HTTP ${answer.status}: neither result nor error: ${JSON.stringify(item).slice(0, 200)}`;
    }
  }
  if (answer.status >= 400 && !items.some((item: { error?: unknown }) => item?.error))
    return `HTTP ${answer.status} without an error`;
  return null;
}
