/**
 * User-supplied names (entities, views, features) become SQL identifiers and column names, so they
 * are restricted to a safe lower-case alphabet and always quoted when spliced into SQL.
 */
import { InvalidInputError } from './errors.js';
const IDENTIFIER = /^[a-z][a-z0-9_]{0,47}$/;

export function assertIdentifier(kind: string, name: string): string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name) || name.includes('__')) {
    throw new InvalidInputError(
      `invalid ${kind} name ${JSON.stringify(name)}: use 1-48 characters of a-z, 0-9 and single underscores, starting with a letter`,
    );
  }
  return name;
}

/** Quotes an identifier for SQL (double quotes, embedded quotes doubled). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `schema.table`, both parts quoted. */
export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}
