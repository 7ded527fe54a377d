import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { RecordBatchFileWriter, type Table } from 'apache-arrow';

/** Buffers handed to one writev call (the system takes at most IOV_MAX, 1024 on Linux). */
const WRITEV_BUFFERS = 512;

/**
 * Writes a file so that readers see either the old file or the complete new one, never a partial
 * write: a temp file in the same directory, fsync, then rename over the target.
 */
export async function writeFileAtomic(target: string, bytes: Uint8Array | Uint8Array[]): Promise<string> {
  const resolved = path.resolve(target);
  await mkdir(path.dirname(resolved), { recursive: true });
  const temp = path.join(
    path.dirname(resolved),
    `.${path.basename(resolved)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  try {
    const file = await open(temp, 'wx');
    try {
      if (!Array.isArray(bytes)) await file.writeFile(bytes);
      else
        for (let i = 0; i < bytes.length; i += WRITEV_BUFFERS) {
          const batch = bytes.slice(i, i + WRITEV_BUFFERS);
          const expected = batch.reduce((sum, b) => sum + b.byteLength, 0);
          const { bytesWritten } = await file.writev(batch);
          // A regular file takes a whole write; a short one would leave a hole, so it is refused.
          if (bytesWritten !== expected)
            throw new Error(`short write to ${temp}: ${bytesWritten} of ${expected} bytes`);
        }
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

/**
 * A table in the Arrow IPC file format as the writer emits it, buffer by buffer: what tableToIPC
 * returns once joined, without the copy that joins them (hundreds of megabytes for a training set).
 */
export async function arrowFileChunks(table: Table): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of RecordBatchFileWriter.writeAll(table)) chunks.push(chunk);
  return chunks;
}
