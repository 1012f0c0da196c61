// Lint: TypeScript rules everywhere, determinism rules for workflows/ (no I/O, no Node built-ins, activities
// imported as types only). The workflow bundler and replay tests check the same from other sides.
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.state/**', 'scripts/cutover.js'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: 'workflows are deterministic: no Node built-ins (do I/O in activities)' })),
            ...['pg', 'ssh2', 'zod', 'yaml', '@google-cloud/storage', '@temporalio/activity', '@temporalio/client', '@temporalio/worker'].map((name) => ({
              name,
              message: 'workflows are deterministic: this belongs in activities/ or scripts/',
            })),
          ],
          patterns: [
            { group: ['**/activities', '**/activities/**'], allowTypeImports: true, message: 'import activities with `import type` only' },
            { group: ['**/scripts/**', '**/workers/**'], message: 'workflows must not import scripts or workers' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'workflows are deterministic: no process' },
        { name: 'require', message: 'use imports' },
        { name: 'fetch', message: 'no I/O in workflows' },
      ],
    },
  },
);
