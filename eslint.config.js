// Lint settings after temporalio/sdk-typescript: floating promises are bugs, and workflow code may not touch I/O.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.dcign/**', 'test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/explicit-module-boundary-types': 'off' },
  },
  {
    // Workflow code is replayed: it must stay deterministic, so no Node built-ins, tfjs, sockets or HTTP.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'path', 'child_process', 'crypto', 'os'], message: 'Workflows are deterministic: no Node built-ins.' },
            { group: ['@tensorflow/*', 'zeromq', 'node-fetch', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'], message: 'Workflows only orchestrate: do I/O in activities.' },
            { group: ['**/src/tracking/*', '**/src/parallel/*', '**/src/train/*', '**/src/model/*', '**/workers/*'], message: 'Workflows import only pure modules.' },
          ],
        },
      ],
    },
  },
);
