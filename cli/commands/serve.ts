import { splitList, type KaizenConfig } from '../../config.js';
import { stackLog } from '../../runtime/logging.js';
import { closeServingDeps, createServingDeps } from '../../serving/app.js';
import { startServer, type RunningServer } from '../../serving/server.js';
import { withRuntime } from '../runtime-context.js';

export interface ServeOptions {
  port?: number;
  host?: string;
  /** Comma-separated model names whose champion is loaded before the server reports ready. */
  preload?: string;
}

/** `kaizen serve`: the tRPC server until SIGINT/SIGTERM, then a graceful shutdown. */
export async function serveCommand(config: KaizenConfig, opts: ServeOptions): Promise<void> {
  const serving = {
    ...config.serving,
    port: opts.port ?? config.serving.port,
    host: opts.host ?? config.serving.host,
    preload: opts.preload === undefined ? config.serving.preload : splitList(opts.preload),
  };
  await withRuntime({ ...config, serving }, { log: stackLog }, async ({ config, database }) => {
    const deps = createServingDeps(config, database);
    let server: RunningServer;
    try {
      server = await startServer({ deps, ...serving });
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
