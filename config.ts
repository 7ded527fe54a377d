import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The repository root, from the sources or from a compiled build in dist/: where the project's tools are. */
export const PACKAGE_ROOT = path.basename(HERE) === 'dist' ? path.dirname(HERE) : HERE;

/**
 * Environment, parsed once at start-up and then injected. Unset DATABASE_URL / TEMPORAL_ADDRESS
 * mean "embedded": `kaizen dev` starts embedded PostgreSQL and the Temporal dev server.
 */
const emptyToUndefined = (v: unknown) => (v === '' ? undefined : v);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const port = (fallback: number) =>
  z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(65535).default(fallback));
const positiveInt = (fallback: number) =>
  z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).default(fallback));

/** `a, b,,c` → `['a', 'b', 'c']`. */
export const splitList = (text: string) =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

export const configSchema = z.object({
  KAIZEN_HOME: z.preprocess(emptyToUndefined, z.string().default('.kaizen')),
  KAIZEN_DATA_ROOT: optionalString,
  KAIZEN_ARTIFACTS_DIR: optionalString,
  DATABASE_URL: optionalString,
  KAIZEN_PG_PORT: port(54329),
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.preprocess(emptyToUndefined, z.string().default('default')),
  TEMPORAL_TLS_CERT: optionalString,
  TEMPORAL_TLS_KEY: optionalString,
  TEMPORAL_TLS_CA: optionalString,
  TEMPORAL_TLS_SERVER_NAME: optionalString,
  TEMPORAL_API_KEY: optionalString,
  KAIZEN_TEMPORAL_PORT: port(7233),
  KAIZEN_TEMPORAL_UI_PORT: port(8233),
  KAIZEN_TEMPORAL_BIN: optionalString,
  KAIZEN_TASK_QUEUE: z.preprocess(emptyToUndefined, z.string().default('kaizen')),
  KAIZEN_SERVE_PORT: port(8080),
  KAIZEN_SERVE_HOST: z.preprocess(emptyToUndefined, z.string().default('127.0.0.1')),
  KAIZEN_SERVE_MAX_ROWS: positiveInt(1000),
  KAIZEN_SERVE_MAX_BODY_BYTES: positiveInt(1_048_576),
  KAIZEN_SERVE_PRELOAD: z.preprocess(emptyToUndefined, z.string().default('')),
  KAIZEN_SERVE_SHUTDOWN_TIMEOUT_MS: positiveInt(10_000),
  KAIZEN_TLS_CERT: optionalString,
  KAIZEN_TLS_KEY: optionalString,
});

export interface KaizenConfig {
  home: string;
  dataRoot: string;
  artifactsDir: string;
  databaseUrl?: string;
  embeddedPgPort: number;
  temporal: {
    address?: string;
    namespace: string;
    tlsCert?: string;
    tlsKey?: string;
    /** PEM CA certificate(s) the server's certificate must chain to (a private CA). */
    tlsCa?: string;
    /** The name the server's certificate must carry, when not the address's host. */
    tlsServerName?: string;
    apiKey?: string;
    devPort: number;
    devUiPort: number;
    binary: string;
  };
  taskQueue: string;
  serving: ServingConfig;
}

/** `kaizen serve`: where to listen, request limits, champions to load before reporting ready. */
export interface ServingConfig {
  port: number;
  host: string;
  /** Entity rows per `features.get` / `predict` call. */
  maxRows: number;
  /** Request body size; larger bodies get PAYLOAD_TOO_LARGE (HTTP 413). */
  maxBodyBytes: number;
  /** Models whose champion is loaded at start-up; `/readyz` waits for them. */
  preload: string[];
  /** How long a shutdown waits for in-flight requests before closing their connections. */
  shutdownTimeoutMs: number;
  /** HTTPS: certificate (chain) and private key files, both or neither (checked when serving starts). */
  tlsCert?: string;
  tlsKey?: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): KaizenConfig {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${issues}`);
  }
  const e = parsed.data;
  const home = path.resolve(e.KAIZEN_HOME);
  return {
    home,
    dataRoot: path.resolve(e.KAIZEN_DATA_ROOT ?? '.'),
    artifactsDir: path.resolve(e.KAIZEN_ARTIFACTS_DIR ?? path.join(home, 'artifacts')),
    databaseUrl: e.DATABASE_URL,
    embeddedPgPort: e.KAIZEN_PG_PORT,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      tlsCert: e.TEMPORAL_TLS_CERT,
      tlsKey: e.TEMPORAL_TLS_KEY,
      tlsCa: e.TEMPORAL_TLS_CA,
      tlsServerName: e.TEMPORAL_TLS_SERVER_NAME,
      apiKey: e.TEMPORAL_API_KEY,
      devPort: e.KAIZEN_TEMPORAL_PORT,
      devUiPort: e.KAIZEN_TEMPORAL_UI_PORT,
      binary: e.KAIZEN_TEMPORAL_BIN
        ? path.resolve(e.KAIZEN_TEMPORAL_BIN)
        : path.join(PACKAGE_ROOT, '.tools/venv/bin/temporal'),
    },
    taskQueue: e.KAIZEN_TASK_QUEUE,
    serving: {
      port: e.KAIZEN_SERVE_PORT,
      host: e.KAIZEN_SERVE_HOST,
      maxRows: e.KAIZEN_SERVE_MAX_ROWS,
      maxBodyBytes: e.KAIZEN_SERVE_MAX_BODY_BYTES,
      preload: splitList(e.KAIZEN_SERVE_PRELOAD),
      shutdownTimeoutMs: e.KAIZEN_SERVE_SHUTDOWN_TIMEOUT_MS,
      tlsCert: e.KAIZEN_TLS_CERT,
      tlsKey: e.KAIZEN_TLS_KEY,
    },
  };
}
