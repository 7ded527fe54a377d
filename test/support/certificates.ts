/** Certificates for TLS tests, made by the openssl CLI (RSA 2048, valid a day). */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const openssl = (args: string[]) => run('/usr/bin/openssl', args);
const NEW_KEY = ['-newkey', 'rsa:2048', '-nodes'];

export interface CertificateFiles {
  cert: string;
  key: string;
}

const files = (dir: string, name: string): CertificateFiles => ({
  cert: path.join(dir, `${name}-cert.pem`),
  key: path.join(dir, `${name}-key.pem`),
});

/** A self-signed certificate (`<dir>/<name>-cert.pem`, `-key.pem`) for the names in `subjectAltName`. */
export async function selfSigned(
  dir: string,
  name: string,
  subjectAltName = 'DNS:localhost,IP:127.0.0.1',
): Promise<CertificateFiles> {
  const { cert, key } = files(dir, name);
  await openssl(
    ['req', '-x509', ...NEW_KEY, '-days', '1', '-subj', `/CN=${name}`].concat([
      '-addext',
      `subjectAltName=${subjectAltName}`,
      '-keyout',
      key,
      '-out',
      cert,
    ]),
  );
  return { cert, key };
}

/** A private CA (self-signed, CA:TRUE) for issue(). */
export async function certificateAuthority(dir: string, name = 'kaizen-test-ca'): Promise<CertificateFiles> {
  const { cert, key } = files(dir, name);
  await openssl([
    'req',
    '-x509',
    ...NEW_KEY,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { cert, key };
}

/**
 * A leaf certificate signed by `ca`, for server and client use. Unlike selfSigned's, it is no CA:
 * rustls (Temporal's worker connection) refuses a CA certificate as a server's own.
 */
export async function issue(
  dir: string,
  ca: CertificateFiles,
  name: string,
  subjectAltName = 'DNS:localhost,IP:127.0.0.1',
): Promise<CertificateFiles> {
  const { cert, key } = files(dir, name);
  const [request, extensions] = [path.join(dir, `${name}.csr`), path.join(dir, `${name}.ext`)];
  writeFileSync(
    extensions,
    [
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature, keyEncipherment',
      'extendedKeyUsage = serverAuth, clientAuth',
      `subjectAltName = ${subjectAltName}`,
    ].join('\n'),
  );
  await openssl(['req', ...NEW_KEY, '-subj', `/CN=${name}`, '-keyout', key, '-out', request]);
  await openssl(
    ['x509', '-req', '-in', request, '-CA', ca.cert, '-CAkey', ca.key].concat([
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-days',
      '1',
      '-extfile',
      extensions,
      '-out',
      cert,
    ]),
  );
  return { cert, key };
}
