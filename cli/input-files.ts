import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';

/**
 * A file the user names on the command line (e.g. --spine), as an absolute path: relative to the
 * working directory, as a shell user expects — never silently to KAIZEN_DATA_ROOT. When a file of
 * that name also exists under the data root and is another file, the choice is ambiguous and refused.
 */
export function resolveInputFile(
  option: string,
  file: string,
  dataRoot: string,
  cwd = process.cwd(),
): string {
  if (path.isAbsolute(file)) return file;
  const here = path.resolve(cwd, file);
  const underDataRoot = path.resolve(dataRoot, file);
  const exists = { here: existsSync(here), underDataRoot: existsSync(underDataRoot) };
  if (exists.here && exists.underDataRoot && realpathSync(here) !== realpathSync(underDataRoot)) {
    throw new Error(
      `ambiguous ${option} ${file}: both ${here} (working directory) and ${underDataRoot} (KAIZEN_DATA_ROOT) exist; pass an absolute path`,
    );
  }
  if (!exists.here) {
    const hint = exists.underDataRoot
      ? `; there is ${underDataRoot} under KAIZEN_DATA_ROOT: pass that path`
      : '';
    throw new Error(`${option} ${file}: no such file ${here}${hint}`);
  }
  return here;
}
