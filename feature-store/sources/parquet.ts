/** Parquet files, read with parquet-wasm into Arrow and then decoded like any Arrow table. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tableFromIPC } from 'apache-arrow';
import * as pq from 'parquet-wasm/esm';
import { arrowColumnSet, causeOf, type ColumnSet } from './columnar.js';
import { SourceError } from './source-data.js';

let initialized = false;

/** Loads the WebAssembly module synchronously, once per process (the esm build does not self-init). */
export function initParquetWasm(): void {
  if (initialized) return;
  const require = createRequire(import.meta.url);
  pq.initSync({ module: readFileSync(require.resolve('parquet-wasm/esm/parquet_wasm_bg.wasm')) });
  initialized = true;
}

/** Parses a parquet file's bytes; `label` (the resolved path) names the file in errors. */
export function readParquetColumns(bytes: Uint8Array, label: string): ColumnSet {
  initParquetWasm();
  let ipc: Uint8Array;
  try {
    ipc = pq.readParquet(bytes).intoIPCStream();
  } catch (err) {
    throw new SourceError('SOURCE_CORRUPT', `cannot read parquet file ${label}: ${causeOf(err)}`);
  }
  try {
    return arrowColumnSet(tableFromIPC(ipc), label);
  } catch (err) {
    throw new SourceError('SOURCE_CORRUPT', `cannot read parquet file ${label}: ${causeOf(err)}`);
  }
}
