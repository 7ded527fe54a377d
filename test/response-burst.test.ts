import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createResponseBurst } from '../serving/response-burst.js';

describe('response burst: the responses of one event-loop turn are written together', () => {
  const writeErrors: unknown[] = [];
  const send = createResponseBurst((error) => writeErrors.push(error));
  /** Per request: whether its headers were already sent when send() returned (never, if deferred). */
  const sentAtOnce: boolean[] = [];
  let server: http.Server;
  let url: string;

  before(async () => {
    server = http.createServer((req, res) => {
      const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '';
      req.resume();
      req.once('end', () => {
        // An invalid status makes writeHead throw: that response alone must fail.
        send(res, id === 'bad' ? 99 : 200, { 'content-type': 'text/plain' }, `answer ${id}`);
        sentAtOnce.push(res.headersSent);
      });
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => new Promise((resolve) => server.close(resolve)));

  test('every response reaches its own request, written after the turn that produced it', async () => {
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => fetch(`${url}/?id=${i}`).then((r) => r.text())),
    );
    assert.deepEqual(
      answers,
      Array.from({ length: 60 }, (_, i) => `answer ${i}`),
    );
    assert.equal(sentAtOnce.length, 60);
    assert.ok(
      sentAtOnce.every((sent) => !sent),
      'a response was written inside send()',
    );
    assert.deepEqual(writeErrors, []);
  });

  test('a response that cannot be written is reported and its connection cut; the rest of its burst is sent', async () => {
    const agent = new http.Agent({ keepAlive: false });
    const get = (id: string) =>
      new Promise<string>((resolve, reject) => {
        http
          .get(`${url}/?id=${id}`, { agent }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (body += chunk));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
    const results = await Promise.allSettled(['a', 'bad', 'b'].map(get));
    assert.equal(results[0].status, 'fulfilled');
    assert.equal((results[0] as PromiseFulfilledResult<string>).value, 'answer a');
    assert.equal(results[1].status, 'rejected', 'the unwritable response must not look answered');
    assert.equal((results[2] as PromiseFulfilledResult<string>).value, 'answer b');
    assert.equal(writeErrors.length, 1);
    assert.match(String(writeErrors[0]), /status code/i);
    agent.destroy();
  });
});
