/**
 * Certificate and key files for TLS (`kaizen serve`'s HTTPS, the Temporal connection), read and
 * checked once at start-up: a wrong file is an error naming it and its option, not a handshake that
 * fails later for every client.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** A TLS file that is missing, unreadable or not what its option says, or half a certificate pair. */
export class TlsConfigError extends Error {
  override name = 'TlsConfigError';
}

/** A file as the user gave it, and the option (or variable) it came from: errors name both. */
export interface TlsFile {
  option: string;
  file: string | undefined;
}

export interface CertificatePair {
  /** PEM: the certificate, optionally followed by its chain. */
  cert: Buffer;
  key: Buffer;
}

/** Both files or neither (undefined); the key must belong to the (first) certificate. */
export function loadCertificatePair(cert: TlsFile, key: TlsFile): CertificatePair | undefined {
  if (cert.file === undefined && key.file === undefined) return undefined;
  if (cert.file === undefined || key.file === undefined) {
    const [given, missing] = cert.file === undefined ? [key, cert] : [cert, key];
    throw new TlsConfigError(
      `${given.option} ${given.file} without ${missing.option}: TLS needs a certificate and its private key`,
    );
  }
  const certPem = readTlsFile(cert);
  const keyPem = readTlsFile(key);
  const certificate = parseCertificate(cert, certPem);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch (error) {
    throw new TlsConfigError(`${key.option} ${key.file} is not a PEM private key: ${reason(error)}`);
  }
  if (privateKey.type !== 'private' || !certificate.checkPrivateKey(privateKey))
    throw new TlsConfigError(
      `${key.option} ${key.file} is not the private key of ${cert.option} ${cert.file}`,
    );
  return { cert: certPem, key: keyPem };
}

/** PEM certificates to trust (a private CA); undefined when no file is given. */
export function loadCaCertificates(ca: TlsFile): Buffer | undefined {
  if (ca.file === undefined) return undefined;
  const pem = readTlsFile(ca);
  parseCertificate(ca, pem);
  return pem;
}

function readTlsFile({ option, file }: TlsFile): Buffer {
  try {
    return readFileSync(file!);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new TlsConfigError(`${option} ${file}: cannot read it (${code ?? reason(error)})`);
  }
}

function parseCertificate({ option, file }: TlsFile, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new TlsConfigError(`${option} ${file} is not a PEM certificate: ${reason(error)}`);
  }
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));
