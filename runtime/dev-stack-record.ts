/**
 * The record a running `kaizen dev` keeps in `<home>/dev.json`, and the checks on it: apart from
 * dev-stack.ts, so that a CLI command finding a running stack does not load what starts one
 * (embedded Postgres, the Temporal dev server).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const devStackInfoSchema = z.object({
  pid: z.number().int(),
  databaseUrl: z.string(),
  temporalAddress: z.string(),
  temporalUiUrl: z.string().optional(),
  namespace: z.string(),
  startedAt: z.string(),
  /** Servers this stack started, so a later `kaizen dev` can stop them if this process died. */
  processes: z.object({ postgres: z.number().int().optional(), temporal: z.number().int().optional() }),
});
/** What `<home>/dev.json` records, so other CLI processes can find a running `kaizen dev`. */
export type DevStackInfo = z.infer<typeof devStackInfoSchema>;

export const devStackFile = (home: string) => path.join(home, 'dev.json');

/** The stack recorded in `<home>/dev.json`, if the process that started it is still alive. */
export function readRunningStack(home: string): DevStackInfo | undefined {
  const info = readRecord(home);
  return info && isAlive(info.pid) ? info : undefined;
}

/** What dev.json records, whether or not the process that wrote it is alive. */
export function readRecord(home: string): DevStackInfo | undefined {
  try {
    return devStackInfoSchema.parse(JSON.parse(readFileSync(devStackFile(home), 'utf8')));
  } catch {
    return undefined; // Missing or unreadable: nothing recorded.
  }
}

/** The command name of a process (`/proc/<pid>/comm`), if it exists. */
export function processName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Whether a process is alive (a zombie is not). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // kill(0) succeeds on a zombie (dead, not yet reaped: common right after kill -9 in containers).
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return true;
  }
}
