/** COPY's text format, both ways: the prediction log, the label join and label ingestion go through it. */
import { StringDecoder } from 'node:string_decoder';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';

/** Rows per COPY FROM buffer: bounds the text held at once. */
export const COPY_BATCH_ROWS = 8192;

/** Unescapes a field of COPY's text format (`\N` is null). */
export function copyField(text: string): string | null {
  if (text === '\\N') return null;
  if (!text.includes('\\')) return text;
  return text.replace(
    /\\(.)/g,
    (_, c: string) => ({ n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v' })[c] ?? c,
  );
}

/** Escapes a value for COPY's text format. */
export const copyValue = (text: string) =>
  text.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!);

/** Rows of a text-format COPY TO, split into fields (tabs), as the stream arrives. */
export async function* copyRowsOut(client: pg.PoolClient, sql: string): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of client.query(copyTo(sql))) {
    const text = rest + decoder.write(chunk as Buffer);
    const lines = text.split('\n');
    rest = lines.pop()!;
    for (const line of lines) yield line.split('\t');
  }
  rest += decoder.end();
  if (rest !== '') yield rest.split('\t');
}
