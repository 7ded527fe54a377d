import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

// Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O.
const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['node_modules/', '.kaizen/', '.tools/', 'migrations/', 'test/histories/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
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
