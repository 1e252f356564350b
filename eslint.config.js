// Lint settings after temporalio/sdk-typescript: floating promises are bugs, imports form no cycle and never run back
// up the layers (CLI -> workflows -> workers -> src), and workflow code may not touch I/O.
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const upward = (message, ...groups) => ({ group: groups, message });

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.dcign/**', 'test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // type-only imports count too: a cycle of types is still two modules that cannot be understood apart
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/explicit-module-boundary-types': 'off' },
  },
  {
    // src/ is the bottom layer: the library knows nothing of the workers, the workflows or the Temporal worker.
    files: ['src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [upward('src/ is the bottom layer: it may not import workers/ or workflows/.', '**/workers/*', '**/workflows/*')] },
      ],
    },
  },
  {
    // Workers run the workflows by path (the bundler loads them), never by import.
    files: ['workers/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [upward('workers/ may not import workflows/: workflows sit above the workers.', '**/workflows/*')] },
      ],
    },
  },
  {
    // Workflow code is replayed: it must stay deterministic, so no Node built-ins, tfjs, sockets or HTTP. Activity
    // types may come from workers/ as `import type` (samples-typescript: proxyActivities<typeof activities>).
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'path', 'child_process', 'crypto', 'os'], message: 'Workflows are deterministic: no Node built-ins.' },
            { group: ['@tensorflow/*', 'zeromq', 'node-fetch', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'], message: 'Workflows only orchestrate: do I/O in activities.' },
            { group: ['**/src/tracking/*', '**/src/parallel/*', '**/src/train/*', '**/src/model/*', '**/src/stack/*', '**/src/cli/*'], message: 'Workflows import only pure modules (src/contract, src/sweep).' },
            { group: ['**/workers/*'], allowTypeImports: true, message: 'Workflows may import activity types from workers/, nothing else.' },
          ],
        },
      ],
    },
  },
);
