/**
 * TLS to Postgres (DATABASE_URL's sslmode, sslrootcert, sslcert, sslkey) and to Temporal
 * (TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA, TEMPORAL_TLS_SERVER_NAME), each through a
 * TLS-terminating proxy in front of the test server that demands a client certificate: the
 * configured client gets through and real work is done (migrations, LISTEN, Temporal calls from the
 * client and the worker's native connection); one that does not trust the server, expects another
 * name or has no client certificate is refused.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type pg from 'pg';
import { loadConfig, type KaizenConfig } from '../config.js';
import { connectDatabase, runMigrations } from '../db/client.js';
import { connectClient, connectionOptions, temporalTls } from '../runtime/temporal.js';
import { TlsConfigError } from '../runtime/tls.js';
import { listenForNotifications } from '../serving/notifications.js';
import { certificateAuthority, issue, type CertificateFiles } from './support/certificates.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

/** Postgres's SSLRequest: length 8, code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]);

interface Proxy {
  port: number;
  /** The common name of each client certificate the proxy accepted. */
  clients: string[];
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1; once `negotiate` (the protocol's own prelude, if any) calls `startTls`, the
 * socket goes to a TLS server with `options` (it refuses clients without a trusted certificate), and
 * the clear bytes of an accepted handshake are piped to `target`.
 */
async function proxy(
  target: URL,
  options: tls.TlsOptions,
  negotiate: (socket: net.Socket, startTls: () => void) => void = (_, startTls) => startTls(),
): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  const clients: string[] = [];
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  };
  const tlsServer = tls.createServer(options, (secure) => {
    track(secure);
    clients.push(String(secure.getPeerCertificate().subject.CN));
    const upstream = net.connect(Number(target.port), target.hostname);
    track(upstream);
    secure.pipe(upstream).pipe(secure);
    secure.on('close', () => upstream.destroy());
    upstream.on('close', () => secure.destroy());
  });
  tlsServer.on('tlsClientError', (_, socket) => socket.destroy());
  const server = net.createServer((socket) => {
    track(socket);
    negotiate(socket, () => tlsServer.emit('connection', socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    clients,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A LISTEN on `tls_test` through `pool`'s settings, as the serving components open theirs. */
function listen(pool: pg.Pool) {
  const payloads: string[] = [];
  const lines: string[] = [];
  let listening!: () => void;
  const ready = new Promise<void>((resolve) => (listening = resolve));
  const listener = listenForNotifications({
    pool,
    channel: 'tls_test',
    name: 'tls-test',
    onNotification: (payload) => payloads.push(payload ?? ''),
    onListening: () => listening(),
    onLost: () => undefined,
    log: (line) => lines.push(line),
  });
  return { payloads, lines, ready, close: () => listener.close() };
}

async function until(done: () => boolean, timeoutMs = 5000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !done(); await sleep(20))
    if (Date.now() > deadline) throw new Error('timed out');
}

describe('TLS to Postgres and Temporal (a private CA, client certificates required)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kaizen-tls-'));
  /** A private CA: it issued the servers' and the client's certificates. */
  let authority: CertificateFiles;
  let server: CertificateFiles;
  /** Carries only a name that is not the address's host: TEMPORAL_TLS_SERVER_NAME must say it. */
  let named: CertificateFiles;
  let client: CertificateFiles;
  /** The server side of a handshake: its certificate, and the client certificates it trusts. */
  const serverSide = (files: CertificateFiles): tls.TlsOptions => ({
    cert: readFileSync(files.cert),
    key: readFileSync(files.key),
    ca: readFileSync(authority.cert),
    requestCert: true,
    rejectUnauthorized: true,
  });

  before(async () => {
    authority = await certificateAuthority(dir);
    [server, named, client] = await Promise.all([
      issue(dir, authority, 'server'),
      issue(dir, authority, 'temporal', 'DNS:temporal.internal'),
      issue(dir, authority, 'client'),
    ]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('Postgres: DATABASE_URL ?sslmode=verify-full&sslrootcert=…&sslcert=…&sslkey=…', () => {
    let testDb: TestDatabase;
    let pgProxy: Proxy;
    /** The test database's URL through the proxy, with these query parameters. */
    const url = (params: Record<string, string>) => {
      const through = new URL(testDb.url);
      through.host = `127.0.0.1:${pgProxy.port}`;
      for (const [name, value] of Object.entries(params)) through.searchParams.set(name, value);
      return through.toString();
    };
    const verified = () => ({
      sslmode: 'verify-full',
      sslrootcert: authority.cert,
      sslcert: client.cert,
      sslkey: client.key,
    });

    before(async () => {
      testDb = await createTestDatabase();
      // Like a server that only accepts TLS: anything but an SSLRequest is hung up on.
      pgProxy = await proxy(new URL(testDb.url), serverSide(server), (socket, startTls) =>
        socket.once('data', (first) => {
          if (!first.equals(SSL_REQUEST)) return socket.destroy();
          socket.pause();
          socket.write('S', startTls);
        }),
      );
    });
    after(async () => {
      await pgProxy?.close();
      await testDb?.drop();
    });

    test('migrations, queries and the LISTEN connection go over TLS with the client certificate', async () => {
      const database = connectDatabase(url(verified()));
      try {
        await runMigrations(database);
        const { rows } = await database.pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM kaizen.api_keys',
        );
        assert.deepEqual(rows, [{ n: 0 }]);

        // serving/notifications.ts opens its own client from the pool's settings: TLS too.
        const listener = listen(database.pool);
        try {
          await listener.ready;
          await database.pool.query(`SELECT pg_notify('tls_test', 'hello')`);
          await until(() => listener.payloads.length > 0);
          assert.deepEqual(listener.payloads, ['hello']);
        } finally {
          await listener.close();
        }
        assert.ok(pgProxy.clients.length >= 2);
        assert.ok(pgProxy.clients.every((name) => name === 'client'));
      } finally {
        await database.close();
      }
    });

    test('no sslrootcert: the private CA is not trusted; no sslmode: the server hangs up', async () => {
      const { sslrootcert: _, ...untrusting } = verified();
      const attempts = [
        [untrusting, /unable to verify the first certificate|self-signed certificate in certificate chain/],
        [{}, /Connection terminated unexpectedly|ECONNRESET/],
        [
          { ...verified(), sslrootcert: path.join(dir, 'none.pem') },
          /ENOENT: no such file or directory, open '.*none\.pem'/,
        ],
      ] as const;
      for (const [params, error] of attempts) {
        const database = connectDatabase(url(params));
        try {
          // pg reads sslrootcert when it creates a client: a missing file throws from query() itself.
          await assert.rejects(async () => database.pool.query('SELECT 1'), error);
        } finally {
          await database.close();
        }
      }
    });
    test('a TLS file pg cannot read when the listener (re)connects is retried, not thrown; it listens once the file is there', async () => {
      const rotating = path.join(dir, 'rotating-ca.pem');
      const database = connectDatabase(url({ ...verified(), sslrootcert: rotating }));
      // The first attempt is in listenForNotifications itself, the next ones in timers: none may throw.
      const listener = listen(database.pool);
      try {
        await until(() => listener.lines.length >= 2);
        for (const line of listener.lines)
          assert.match(
            line,
            /lost \(ENOENT: no such file or directory, open '.*rotating-ca\.pem'\); reconnecting in/,
          );
        copyFileSync(authority.cert, rotating);
        await listener.ready;
      } finally {
        await listener.close();
        await database.close();
      }
    });
  });

  describe('Temporal: TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA, TEMPORAL_TLS_SERVER_NAME', () => {
    let temporalProxy: Proxy;
    let address: string;
    const temporal = (env: Record<string, string>): KaizenConfig['temporal'] =>
      loadConfig({ TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE, ...env }).temporal;
    const configured = () => ({
      TEMPORAL_TLS_CERT: client.cert,
      TEMPORAL_TLS_KEY: client.key,
      TEMPORAL_TLS_CA: authority.cert,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });

    before(async () => {
      const target = new URL(`grpc://${process.env.TEMPORAL_ADDRESS}`);
      // gRPC over TLS negotiates HTTP/2 by ALPN; the dev server behind speaks it in the clear.
      temporalProxy = await proxy(target, { ...serverSide(named), ALPNProtocols: ['h2'] });
      address = `127.0.0.1:${temporalProxy.port}`;
    });
    after(() => temporalProxy?.close());

    test('the client and the worker connection get through with a client certificate, the CA and the name', async () => {
      const config = temporal(configured());
      const client = await connectClient(config, address);
      try {
        const { namespaceInfo } = await client.workflowService.describeNamespace({
          namespace: config.namespace,
        });
        assert.equal(namespaceInfo?.name, config.namespace);
      } finally {
        await client.connection.close();
      }
      const native = await NativeConnection.connect(connectionOptions(config, address));
      await native.close();
      assert.ok(temporalProxy.clients.length >= 2);
      assert.ok(temporalProxy.clients.every((name) => name === 'client'));
    });

    test('no CA, no server name or no client certificate: refused', async () => {
      const { TEMPORAL_TLS_CA: _ca, ...noCa } = configured();
      const { TEMPORAL_TLS_SERVER_NAME: _name, ...noName } = configured();
      const { TEMPORAL_TLS_CERT: _cert, TEMPORAL_TLS_KEY: _key, ...noCertificate } = configured();
      const accepted = temporalProxy.clients.length;
      for (const env of [noCa, noName, noCertificate]) {
        const options = { ...connectionOptions(temporal(env), address), connectTimeout: '3s' };
        await assert.rejects(Connection.connect(options), /Failed to connect before the deadline/);
      }
      // gRPC only says it gave up: that no handshake succeeded says why.
      assert.equal(temporalProxy.clients.length, accepted);
    });

    test('half a pair or an unreadable file is an error naming it; an API key alone turns TLS on', () => {
      assert.equal(temporalTls(temporal({})), undefined);
      assert.deepEqual(temporalTls(temporal({ TEMPORAL_API_KEY: 'k' })), {});
      assert.deepEqual(temporalTls(temporal({ TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' })), {
        serverNameOverride: 'temporal.internal',
      });
      const fails = (env: Record<string, string>, message: string) =>
        assert.throws(
          () => temporalTls(temporal(env)),
          (error: Error) => error instanceof TlsConfigError && error.message === message,
        );
      fails(
        { TEMPORAL_TLS_CERT: client.cert },
        `TEMPORAL_TLS_CERT ${client.cert} without TEMPORAL_TLS_KEY: TLS needs a certificate and its private key`,
      );
      fails(
        { TEMPORAL_TLS_KEY: client.key },
        `TEMPORAL_TLS_KEY ${client.key} without TEMPORAL_TLS_CERT: TLS needs a certificate and its private key`,
      );
      const missing = path.join(dir, 'none.pem');
      fails({ TEMPORAL_TLS_CA: missing }, `TEMPORAL_TLS_CA ${missing}: cannot read it (ENOENT)`);
      assert.throws(
        () => temporalTls(temporal({ TEMPORAL_TLS_CA: client.key })),
        /^TlsConfigError: TEMPORAL_TLS_CA \S+ is not a PEM certificate/,
      );
    });
  });
});
