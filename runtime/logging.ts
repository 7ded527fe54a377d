const verbose = process.env.KAIZEN_VERBOSE === '1';
let installed = false;

/**
 * CLI output stays readable: SDK logs at WARN, and server output only with KAIZEN_VERBOSE=1. Call it
 * before the process's first worker starts (the SDK's runtime is configured once); later calls do
 * nothing. The worker SDK is imported here, not at start-up: commands that start no worker never load it.
 */
export async function installCliLogging(): Promise<void> {
  if (installed) return;
  installed = true;
  const { DefaultLogger, Runtime } = await import('@temporalio/worker');
  Runtime.install({ logger: new DefaultLogger(verbose ? 'INFO' : 'WARN') });
}

/** Dev-stack lines: its own status lines always, Postgres/Temporal server output only when verbose. */
export function stackLog(line: string): void {
  if (verbose || line.startsWith('[dev-stack]')) console.log(line);
}
