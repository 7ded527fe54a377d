/** Buffers that binary COPY decoders grow while they read: interned strings, growing typed arrays. */
/**
 * Interns UTF-8 values straight from binary COPY bytes: a value seen before costs an FNV-1a hash and a
 * byte comparison instead of a decode and a fresh string. Keys and categorical values repeat millions
 * of times in a COPY, and allocating a string per value made its decoders GC-bound.
 */
export class Utf8Interner {
  readonly strings: string[] = [];
  /** Open addressing, at most half full: entry index or -1. */
  private table = new Int32Array(1024).fill(-1);
  private hashes = new Int32Array(512);
  /** Entry e's bytes are store[offsets[e], offsets[e + 1]). */
  private offsets = new Int32Array(513);
  private store = new Uint8Array(16_384);

  intern(buf: Buffer, start: number, end: number): number {
    let h = 0x811c9dc5 | 0;
    for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
    const mask = this.table.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const e = this.table[slot];
      if (e < 0) return this.add(slot, h, buf, start, end);
      if (this.hashes[e] === h && this.equals(e, buf, start, end)) return e;
    }
  }

  private equals(e: number, buf: Buffer, start: number, end: number): boolean {
    const from = this.offsets[e];
    if (this.offsets[e + 1] - from !== end - start) return false;
    for (let i = start, j = from; i < end; i++, j++) if (buf[i] !== this.store[j]) return false;
    return true;
  }

  private add(slot: number, h: number, buf: Buffer, start: number, end: number): number {
    const e = this.strings.length;
    if (e + 2 > this.offsets.length) {
      this.hashes = grown(this.hashes, this.hashes.length * 2);
      this.offsets = grown(this.offsets, this.offsets.length * 2);
    }
    const from = this.offsets[e];
    if (from + end - start > this.store.length) {
      this.store = grown(this.store, Math.max(this.store.length * 2, from + end - start));
    }
    this.store.set(buf.subarray(start, end), from);
    this.offsets[e + 1] = from + end - start;
    this.hashes[e] = h;
    this.strings.push(buf.toString('utf8', start, end));
    this.table[slot] = e;
    if (2 * (e + 1) > this.table.length) this.rehash();
    return e;
  }

  private rehash(): void {
    const table = new Int32Array(this.table.length * 2).fill(-1);
    const mask = table.length - 1;
    for (let e = 0; e < this.strings.length; e++) {
      let slot = this.hashes[e] & mask;
      while (table[slot] >= 0) slot = (slot + 1) & mask;
      table[slot] = e;
    }
    this.table = table;
  }
}

/** A copy of a typed array with more capacity. */
export function grown<T extends Float64Array | Int32Array | Uint8Array>(array: T, capacity: number): T {
  const next = new (array.constructor as new (n: number) => T)(capacity);
  next.set(array);
  return next;
}
