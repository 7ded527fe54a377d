/**
 * Paths under the artifacts directory built from names that arrive in activity inputs (a model's, a
 * relative trainer output): one that would lead outside the directory (`..`, an absolute part) is
 * refused here, where the file is written, whatever checks the caller made or skipped.
 */
import path from 'node:path';
import { InvalidInputError } from '../feature-store/index.js';

export function artifactPath(root: string, ...parts: string[]): string {
  const base = path.resolve(root);
  const resolved = path.resolve(base, ...parts);
  const inside = path.relative(base, resolved);
  if (inside === '' || inside === '..' || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside))
    throw new InvalidInputError(`${JSON.stringify(parts.join('/'))} would lead outside ${base}`);
  return resolved;
}
