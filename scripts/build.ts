/**
 * `npm run build`: the compiled JavaScript that `kaizen serve` and `kaizen worker` run (dist/), with
 * the files it reads at run time next to it, and a stamp bin/kaizen compares sources against.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
/** Run-time files of the compiled modules, at the same places relative to them as in the sources. */
const ASSETS = ['migrations', 'trainers/builtin/kernels.wat', 'trainers/torch/train.py'];

rmSync(dist, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
for (const asset of ASSETS) {
  mkdirSync(path.dirname(path.join(dist, asset)), { recursive: true });
  cpSync(path.join(root, asset), path.join(dist, asset), { recursive: true });
}
// dist/ holds ES modules like the sources (the root package.json says "type": "module").
writeFileSync(path.join(dist, '.build-stamp'), `${new Date().toISOString()}\n`);
console.error(`build: ${path.relative(process.cwd(), dist) || dist}/ ready`);
