import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

// Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O.
const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

// The feature store is a library with one door: code outside it imports feature-store/index.js only
// (or requests.js, a subset of it that loads no store, for processes that only start workflows).
// Tests and benchmarks may reach inside to exercise and measure internals.
const featureStoreEntryOnly = {
  group: ['**/feature-store/*', '!**/feature-store/index.js', '!**/feature-store/requests.js'],
  message:
    'Import the feature store through feature-store/index.js, its public entry (or requests.js, a subset of it).',
};

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      '.kaizen/',
      '.tools/',
      'dist/',
      'dist.building-*/',
      'migrations/',
      'test/histories/',
    ],
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.ts'],
    ignores: ['feature-store/**', 'test/**', 'bench/**', 'workflows/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [featureStoreEntryOnly] }] },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'Workflows must stay deterministic: do I/O in activities.',
          })),
          patterns: [
            featureStoreEntryOnly,
            {
              group: ['../activities/*', '../feature-store/*', '../db/*', '../runtime/*'],
              allowTypeImports: true,
              message: 'Workflows import only types of activities.',
            },
          ],
        },
      ],
    },
  },
);
