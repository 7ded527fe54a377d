import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a file so that readers see either the old file or the complete new one, never a partial
 * write: a temp file in the same directory, fsync, then rename over the target.
 */
export async function writeFileAtomic(target: string, bytes: Uint8Array): Promise<string> {
  const resolved = path.resolve(target);
  await mkdir(path.dirname(resolved), { recursive: true });
  const temp = path.join(
    path.dirname(resolved),
    `.${path.basename(resolved)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  try {
    const file = await open(temp, 'wx');
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, resolved);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return resolved;
}
