/** Arrow IPC files, in either the file format (ARROW1 magic) or the stream format. */
import { tableFromIPC } from 'apache-arrow';
import { arrowColumnSet, causeOf, type ColumnSet } from './columnar.js';
import { SourceError } from './source-data.js';

/** Parses Arrow IPC bytes; `label` (the resolved path) names the file in errors. */
export function readArrowColumns(bytes: Uint8Array, label: string): ColumnSet {
  // tableFromIPC accepts zero bytes as an empty table without schema; that is a broken file here.
  if (bytes.length === 0)
    throw new SourceError('SOURCE_CORRUPT', `cannot read arrow file ${label}: file is empty`);
  try {
    return arrowColumnSet(tableFromIPC(bytes), label);
  } catch (err) {
    throw new SourceError('SOURCE_CORRUPT', `cannot read arrow file ${label}: ${causeOf(err)}`);
  }
}
