import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { RecordBatchFileWriter, type Table } from 'apache-arrow';

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
      else {
        // libuv splits the buffers at IOV_MAX and resumes short writes; a shortfall still left is refused.
        const expected = bytes.reduce((sum, b) => sum + b.byteLength, 0);
        const { bytesWritten } = await file.writev(bytes);
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

/** Writes a table as an Arrow IPC file, atomically (writeFileAtomic), buffer by buffer (arrowFileChunks). */
export async function writeArrowFileAtomic(target: string, table: Table): Promise<string> {
  return writeFileAtomic(target, await arrowFileChunks(table));
}
