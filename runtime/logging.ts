import { DefaultLogger, Runtime } from '@temporalio/worker';

const verbose = process.env.KAIZEN_VERBOSE === '1';

/** CLI output stays readable: SDK logs at WARN, and server output only with KAIZEN_VERBOSE=1. */
export function installCliLogging(): void {
  Runtime.install({ logger: new DefaultLogger(verbose ? 'INFO' : 'WARN') });
}

/** Dev-stack lines: its own status lines always, Postgres/Temporal server output only when verbose. */
export function stackLog(line: string): void {
  if (verbose || line.startsWith('[dev-stack]')) console.log(line);
}
