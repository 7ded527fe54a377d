import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { listenForNotifications } from '../serving/notifications.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

/** A TCP proxy to Postgres that can stop forwarding without closing anything: a link that died silently. */
async function freezableProxy(target: URL) {
  let frozen = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (data) => frozen || upstream.write(data));
    upstream.on('data', (data) => frozen || client.write(data));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** Stops forwarding on the connections open now; later connections work. */
    freeze: () => {
      frozen = true;
      const stuck = [...sockets];
      sockets.clear();
      return () => {
        for (const socket of stuck) socket.destroy();
        frozen = false;
      };
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('LISTEN connection (real Postgres)', () => {
  let database: TestDatabase;

  before(async () => {
    database = await createTestDatabase();
  });
  after(() => database?.drop());

  test('a connection that dies silently is noticed by the heartbeat, replaced, and notifications flow again', async () => {
    const proxy = await freezableProxy(new URL(database.url));
    const proxied = new URL(database.url);
    proxied.host = `127.0.0.1:${proxy.port}`;
    const pool = new pg.Pool({ connectionString: proxied.toString() });
    const direct = new pg.Pool({ connectionString: database.url });
    const events: string[] = [];
    const payloads: string[] = [];
    let lostAt = 0;
    const listener = listenForNotifications({
      pool,
      channel: 'kaizen_test',
      name: 'test-listener',
      heartbeatMs: 100,
      onNotification: (payload) => payloads.push(payload ?? ''),
      onListening: () => events.push('listening'),
      onLost: () => {
        lostAt = Date.now();
        events.push('lost');
      },
      log: () => undefined,
    });
    const until = async (what: string, done: () => boolean) => {
      const deadline = Date.now() + 10_000;
      while (!done()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(10);
      }
    };
    try {
      await until('listening', () => listener.listening());
      await direct.query(`SELECT pg_notify('kaizen_test', 'before')`);
      await until('the first notification', () => payloads.includes('before'));

      // Neither a FIN nor an error reaches the client: only the heartbeat can tell.
      const frozenAt = Date.now();
      const thaw = proxy.freeze();
      await until('the loss', () => lostAt > 0);
      const noticedMs = lostAt - frozenAt;
      assert.ok(noticedMs < 1000, `noticed after ${noticedMs} ms (heartbeat 100 ms)`);
      assert.equal(listener.listening(), false);

      thaw();
      await until('listening again', () => listener.listening());
      await direct.query(`SELECT pg_notify('kaizen_test', 'after')`);
      await until('a notification on the new connection', () => payloads.includes('after'));
      assert.deepEqual(events, ['listening', 'lost', 'listening']);
    } finally {
      await listener.close();
      await pool.end();
      await direct.end();
      await proxy.close();
    }
  });
});
