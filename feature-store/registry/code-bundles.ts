/**
 * Content-addressed code bundles: what an on-demand view version runs. At apply time the module
 * exporting the view is bundled with esbuild — the view's function, every helper it calls and the
 * packages they import, in one self-contained ES module — and stored in the registry under its
 * sha256. Training sets, historical lookups and servers import that stored bundle, never the live
 * module, so later edits to the code cannot change (or break) what a pinned version computes.
 *
 * esbuild reprints code, so comments and formatting do not change a bundle; unused definitions of
 * the same file drop out (calls to the define* helpers are marked pure), so editing another view
 * does not either. Changing the function, or a helper it reaches, does.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eq } from 'drizzle-orm';
import { build, type Plugin } from 'esbuild';
import type { Db } from '../../db/client.js';
import { codeBundles } from '../../db/schema.js';

export interface CodeBundle {
  sha256: string;
  code: string;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The feature-store library, in the tree this file runs from (sources, or a compiled build of them). */
const LIBRARY_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..') + path.sep;
/** The repository this library belongs to, whether it runs from sources or from dist/. */
export const PACKAGE_ROOT = path.resolve(
  LIBRARY_DIR,
  path.basename(path.dirname(LIBRARY_DIR)) === 'dist' ? '../..' : '..',
);
/** Both trees: user modules import the sources even when the CLI runs compiled. */
const LIBRARY_DIRS = [
  path.join(PACKAGE_ROOT, 'feature-store') + path.sep,
  path.join(PACKAGE_ROOT, 'dist', 'feature-store') + path.sep,
];

/** Calls of the definition helpers in user code; marked pure so unused definitions are tree-shaken. */
const DEFINE_CALL = /(?<![\w$.])(defineEntity|defineFeatureView|defineOnDemandView)(\s*\()/g;
const EXPORT_NAME = /^[A-Za-z_$][\w$]*$/;

const isLibrary = (file: string) => LIBRARY_DIRS.some((dir) => file.startsWith(dir));
const isPackage = (file: string) => file.split(path.sep).includes('node_modules');

const loaders = {
  '.ts': 'ts',
  '.mts': 'ts',
  '.cts': 'ts',
  '.tsx': 'tsx',
  '.js': 'js',
  '.mjs': 'js',
  '.cjs': 'js',
  '.jsx': 'jsx',
} as const;

/**
 * esbuild cannot see across modules that a define* call is free of side effects (it ignores
 * @__NO_SIDE_EFFECTS__ on imported functions), so user files get a /* @__PURE__ *\/ mark on those
 * calls, and library files are declared side-effect free: what the view does not use is left out.
 */
const treeShakeDefinitions: Plugin = {
  name: 'kaizen-tree-shake-definitions',
  setup(bundler) {
    bundler.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'resolved' || args.kind === 'entry-point') return undefined;
      const resolved = await bundler.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'resolved',
      });
      // Optional requires of packages the library uses (pg-native, pnpapi) need not exist: they are
      // only ever reached through code that tree shaking drops, and an import left in the bundle fails loudly.
      if (resolved.errors.length > 0) return { path: args.path, external: true };
      if (resolved.external) return resolved;
      return isLibrary(resolved.path) ? { ...resolved, sideEffects: false } : resolved;
    });
    bundler.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, async (args) => {
      if (isLibrary(args.path) || isPackage(args.path)) return undefined;
      const text = await readFile(args.path, 'utf8');
      const loader = loaders[path.extname(args.path) as keyof typeof loaders] ?? 'js';
      return { contents: text.replace(DEFINE_CALL, '/* @__PURE__ */ $1$2'), loader };
    });
  },
};

/** The nearest directory above `file` with a package.json: the project the module belongs to. */
function projectRootOf(file: string): string {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.dirname(file);
  }
}

/**
 * Lets bundled CommonJS packages `require` Node built-ins (esbuild's ESM output has no `require`);
 * everything else is inside the bundle.
 */
const REQUIRE_BANNER = `import { createRequire as __kaizenCreateRequire } from 'node:module'; const require = __kaizenCreateRequire('file:///');`;

/** Bundles the export `exportName` of `module` (absolute path) as the default export of one ES module. */
export async function bundleExport(module: string, exportName: string): Promise<CodeBundle> {
  if (!EXPORT_NAME.test(exportName)) throw new Error(`cannot bundle export "${exportName}" of ${module}`);
  const result = await build({
    // esbuild names bundled CommonJS modules by their path from here: the project, not the process's
    // working directory, so the same code bundles to the same bytes wherever `kaizen apply` runs.
    absWorkingDir: projectRootOf(module),
    banner: { js: REQUIRE_BANNER },
    stdin: {
      contents: `import { ${exportName} as pinned } from ${JSON.stringify(module)};\nexport default pinned;\n`,
      resolveDir: path.dirname(module),
      sourcefile: 'kaizen-bundle-entry.js',
      loader: 'js',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    treeShaking: true,
    // No whitespace, no comments: the bundle's identity is its code (and no file paths end up in it).
    minifyWhitespace: true,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
    plugins: [treeShakeDefinitions],
  }).catch((error: Error) => {
    throw new Error(`cannot bundle ${exportName} of ${module}: ${error.message}`);
  });
  const code = result.outputFiles[0].text;
  return { sha256: sha256(code), code };
}

/** Stores a bundle (idempotent: the hash is its key). */
export async function saveBundle(db: Db, bundle: CodeBundle): Promise<void> {
  await db.insert(codeBundles).values({ sha256: bundle.sha256, code: bundle.code }).onConflictDoNothing();
}

const imported = new Map<string, Promise<unknown>>();

/**
 * The default export of a stored bundle, imported once per process. The code is checked against its
 * hash before it runs, and imported from a data: URL: nothing of the live module tree is involved.
 */
export function importBundle(db: Db, hash: string): Promise<unknown> {
  let loaded = imported.get(hash);
  if (!loaded) {
    loaded = (async () => {
      const [row] = await db.select().from(codeBundles).where(eq(codeBundles.sha256, hash));
      if (!row) throw new Error(`code bundle ${hash} is missing from the registry`);
      if (sha256(row.code) !== hash) throw new Error(`code bundle ${hash} does not match its hash`);
      return runBundle(row.code);
    })();
    imported.set(hash, loaded);
    loaded.catch(() => imported.get(hash) === loaded && imported.delete(hash));
  }
  return loaded;
}

/** The default export of bundled code (apply also runs a bundle before storing it, to check it). */
export async function runBundle(code: string): Promise<unknown> {
  const url = `data:text/javascript;base64,${Buffer.from(code, 'utf8').toString('base64')}`;
  return ((await import(url)) as { default: unknown }).default;
}
