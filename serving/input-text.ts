/**
 * The strings the API accepts. JSON may carry a NUL character (U+0000) or an unpaired surrogate;
 * Postgres text and jsonb hold neither (a query with one fails, a log entry with one is lost). Every
 * string of every input schema is this one: such text is a BAD_REQUEST at the boundary, never a
 * database error behind it.
 */
import { z } from 'zod';

const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const isStorableText = (text: string) => !UNSTORABLE.test(text);

/** A string schema refusing NUL and unpaired surrogates; chain `.trim()`, `.min()`, `.max()` as usual. */
export const text = () =>
  z.string().refine(isStorableText, { message: 'text must not hold NUL (U+0000) or an unpaired surrogate' });
