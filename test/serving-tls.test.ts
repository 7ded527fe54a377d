/**
 * `kaizen serve` over HTTPS with a self-signed certificate made by openssl for the test: a client
 * trusting it is answered through the same tRPC chain; plain HTTP, a client that does not trust it
 * and a name the certificate does not carry are refused; half a pair or a bad file stops start-up
 * with an error naming the file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../config.js';
import { connectDatabase, runMigrations, type Database } from '../db/client.js';
import { loadCertificatePair, TlsConfigError } from '../runtime/tls.js';
import { createApiKey } from '../serving/api-keys.js';
import { createServingDeps } from '../serving/app.js';
import { startServer, type RunningServer } from '../serving/server.js';
import { selfSigned } from './support/certificates.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

interface Answer {
  status: number;
  body: string;
}

/** One request on a fresh connection (no agent: every call makes its own handshake). */
function request(url: string, options: https.RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https:') ? https : http;
    const req = client.request(url, { ...options, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Rejects with this error code (a TLS verification failure, a reset connection). */
async function refused(call: Promise<unknown>, codes: RegExp): Promise<void> {
  await assert.rejects(call, (error: NodeJS.ErrnoException) => {
    assert.match(String(error.code), codes, String(error));
    return true;
  });
}

describe('kaizen serve over HTTPS (self-signed certificate)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kaizen-tls-'));
  const file = (name: string) => path.join(dir, name);
  let pair: { cert: string; key: string };
  let other: { cert: string; key: string };
  let ca: Buffer;
  let testDb: TestDatabase;
  let database: Database;
  let server: RunningServer;
  let secret: string;

  before(async () => {
    [pair, other] = await Promise.all([selfSigned(dir, 'server'), selfSigned(dir, 'other')]);
    ca = readFileSync(pair.cert);
    writeFileSync(file('garbage.pem'), 'not a PEM file\n');
    testDb = await createTestDatabase();
    database = connectDatabase(testDb.url);
    await runMigrations(database);
    ({ secret } = await createApiKey(database.db, { name: 'ci', scopes: ['predict'] }));
    const tls = loadCertificatePair(
      { option: '--tls-cert', file: pair.cert },
      { option: '--tls-key', file: pair.key },
    );
    const deps = createServingDeps(
      loadConfig({ ...process.env, KAIZEN_SERVE_PRELOAD: '' }),
      database,
      () => {},
    );
    server = await startServer({
      deps,
      port: 0,
      host: '127.0.0.1',
      shutdownTimeoutMs: 5000,
      tls,
      log: () => {},
    });
  });

  after(async () => {
    await server?.close();
    await database?.close();
    await testDb?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a client trusting the certificate is answered through tRPC, auth included', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(await request(`${server.url}/healthz`, { ca }), { status: 200, body: '{"ok":true}' });
    const listed = await request(`${server.url}/trpc/models.list`, {
      ca,
      headers: { authorization: `Bearer ${secret}` },
    });
    assert.equal(listed.status, 200, listed.body);
    assert.deepEqual(JSON.parse(listed.body), { result: { data: [] } });
    assert.equal((await request(`${server.url}/trpc/models.list`, { ca })).status, 401);
    // The certificate names localhost too.
    const byName = await request(`https://localhost:${server.port}/healthz`, { ca });
    assert.equal(byName.status, 200);
  });

  test('plain HTTP to the TLS port gets no answer', async () => {
    await refused(request(`http://127.0.0.1:${server.port}/healthz`), /^(ECONNRESET|EPIPE)$/);
  });

  test('a client that does not trust the certificate, or expects another name, is refused', async () => {
    await refused(request(`${server.url}/healthz`), /^DEPTH_ZERO_SELF_SIGNED_CERT$/);
    await refused(
      request(`${server.url}/healthz`, { ca: readFileSync(other.cert) }),
      /^DEPTH_ZERO_SELF_SIGNED_CERT$/,
    );
    await refused(
      request(`${server.url}/healthz`, { ca, servername: 'kaizen.example' }),
      /^ERR_TLS_CERT_ALTNAME_INVALID$/,
    );
  });

  test('half a pair, an unreadable or invalid file, a key of another certificate: an error naming the file', () => {
    const load = (cert: string | undefined, key: string | undefined) => () =>
      loadCertificatePair({ option: '--tls-cert', file: cert }, { option: '--tls-key', file: key });
    const fails = (cert: string | undefined, key: string | undefined, message: string) =>
      assert.throws(load(cert, key), (error: Error) => {
        assert.ok(error instanceof TlsConfigError, String(error));
        assert.equal(error.message, message);
        return true;
      });

    assert.equal(load(undefined, undefined)(), undefined);
    fails(
      pair.cert,
      undefined,
      `--tls-cert ${pair.cert} without --tls-key: TLS needs a certificate and its private key`,
    );
    fails(
      undefined,
      pair.key,
      `--tls-key ${pair.key} without --tls-cert: TLS needs a certificate and its private key`,
    );
    fails(file('none.pem'), pair.key, `--tls-cert ${file('none.pem')}: cannot read it (ENOENT)`);
    fails(pair.cert, dir, `--tls-key ${dir}: cannot read it (EISDIR)`);
    assert.throws(
      load(file('garbage.pem'), pair.key),
      /^TlsConfigError: --tls-cert \S+garbage.pem is not a PEM certificate: /,
    );
    assert.throws(
      load(pair.key, pair.key),
      /^TlsConfigError: --tls-cert \S+server-key.pem is not a PEM certificate: /,
    );
    assert.throws(
      load(pair.cert, file('garbage.pem')),
      /^TlsConfigError: --tls-key \S+garbage.pem is not a PEM private key: /,
    );
    // A certificate is no private key: the public key inside it must not pass for one.
    assert.throws(
      load(pair.cert, pair.cert),
      /^TlsConfigError: --tls-key \S+server-cert.pem is not a PEM private key: /,
    );
    fails(pair.cert, other.key, `--tls-key ${other.key} is not the private key of --tls-cert ${pair.cert}`);
  });

  test('the CLI: https in the printed URL; half a pair is a start-up error before anything starts', async () => {
    const env = { ...process.env, DATABASE_URL: testDb.url, KAIZEN_TLS_CERT: '', KAIZEN_TLS_KEY: '' };
    const kaizen = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'serve', '--port', '0', ...args], {
        env: { ...env, ...extra },
      });
    const finished = (child: ReturnType<typeof kaizen>) =>
      new Promise<{ code: number | null; output: string }>((resolve) => {
        let output = '';
        child.stdout.on('data', (d) => (output += d));
        child.stderr.on('data', (d) => (output += d));
        child.once('exit', (code) => resolve({ code, output }));
      });

    const [certOnly, keyFromEnv] = await Promise.all([
      finished(kaizen(['--tls-cert', pair.cert])),
      finished(kaizen([], { KAIZEN_TLS_KEY: pair.key })),
    ]);
    assert.equal(certOnly.code, 1);
    assert.equal(
      certOnly.output.trim(),
      `kaizen: --tls-cert (KAIZEN_TLS_CERT) ${pair.cert} without --tls-key (KAIZEN_TLS_KEY): TLS needs a certificate and its private key`,
    );
    assert.equal(keyFromEnv.code, 1);
    assert.match(
      keyFromEnv.output,
      /^kaizen: --tls-key \(KAIZEN_TLS_KEY\) \S+ without --tls-cert \(KAIZEN_TLS_CERT\)/,
    );

    // The key from the environment, the certificate from the option.
    const child = kaizen(['--tls-cert', pair.cert], { KAIZEN_TLS_KEY: pair.key });
    const done = finished(child);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', () => {
        const match = /kaizen serve: (\S+) /.exec(output);
        if (match) resolve(match[1]);
      });
      child.once('exit', () => reject(new Error(`kaizen serve exited before printing its URL: ${output}`)));
    });
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await request(`${url}/healthz`, { ca })).status, 200);
    child.kill('SIGTERM');
    assert.equal((await done).code, 0);
  });
});
