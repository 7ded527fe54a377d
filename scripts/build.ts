/**
 * `npm run build`: the compiled JavaScript that `kaizen serve` and `kaizen worker` run (dist/), with
 * the files it reads at run time next to it, and a stamp bin/kaizen compares sources against.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
/** Built aside and swapped in whole, so no process ever starts from half a build. */
const staging = path.join(root, `dist.building-${process.pid}`);
/** Run-time files of the compiled modules, at the same places relative to them as in the sources. */
const ASSETS = ['migrations', 'trainers/builtin/kernels.wat', 'trainers/torch/train.py'];

rmSync(staging, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', staging],
  { cwd: root, stdio: 'inherit' },
);
for (const asset of ASSETS) {
  mkdirSync(path.dirname(path.join(staging, asset)), { recursive: true });
  cpSync(path.join(root, asset), path.join(staging, asset), { recursive: true });
}
// dist/ holds ES modules like the sources (the root package.json says "type": "module").
writeFileSync(path.join(staging, '.build-stamp'), `${new Date().toISOString()}\n`);
rmSync(dist, { recursive: true, force: true });
renameSync(staging, dist);
console.error(`build: ${path.relative(process.cwd(), dist) || dist}/ ready`);
