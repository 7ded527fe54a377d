import { splitList, type KaizenConfig } from '../../config.js';
import { stackLog } from '../../runtime/logging.js';
import { loadCertificatePair } from '../../runtime/tls.js';
import { closeServingDeps, createServingDeps } from '../../serving/app.js';
import { startServer, type RunningServer } from '../../serving/server.js';
import { withRuntime } from '../runtime-context.js';

export interface ServeOptions {
  port?: number;
  host?: string;
  /** Comma-separated model names whose champion is loaded before the server reports ready. */
  preload?: string;
  /** HTTPS certificate and key files (else KAIZEN_TLS_CERT / KAIZEN_TLS_KEY); both or neither. */
  tlsCert?: string;
  tlsKey?: string;
}

/** `kaizen serve`: the tRPC server until SIGINT/SIGTERM, then a graceful shutdown. */
export async function serveCommand(config: KaizenConfig, opts: ServeOptions): Promise<void> {
  const serving = {
    ...config.serving,
    port: opts.port ?? config.serving.port,
    host: opts.host ?? config.serving.host,
    preload: opts.preload === undefined ? config.serving.preload : splitList(opts.preload),
    tlsCert: opts.tlsCert ?? config.serving.tlsCert,
    tlsKey: opts.tlsKey ?? config.serving.tlsKey,
  };
  // Before anything starts: a wrong or missing file is the whole error, not a failure mid-start-up.
  const tls = loadCertificatePair(
    { option: '--tls-cert (KAIZEN_TLS_CERT)', file: serving.tlsCert },
    { option: '--tls-key (KAIZEN_TLS_KEY)', file: serving.tlsKey },
  );
  await withRuntime({ ...config, serving }, { log: stackLog }, async ({ config, database }) => {
    const deps = createServingDeps(config, database);
    let server: RunningServer;
    try {
      server = await startServer({ deps, ...serving, tls });
    } catch (error) {
      await closeServingDeps(deps);
      throw error;
    }
    const preloading = serving.preload.length ? `; loading ${serving.preload.join(', ')}` : '';
    console.log(`kaizen serve: ${server.url} (tRPC /trpc, /metrics, /healthz, /readyz)${preloading}`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    console.log(`kaizen serve: ${signal}, finishing in-flight requests…`);
    await server.close();
  });
}
