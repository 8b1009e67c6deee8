// ESLint with typescript-eslint's type-checked rules, plus the layering of DESIGN.md enforced
// as import restrictions (CONVENTIONS.md "Layer by runtime, import in one direction").
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const electronBanned = {
  name: 'electron',
  message:
    'Only main/app/ and preload/ may import electron: the engine, CLI, web UI server and vault run under plain Node.',
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-results/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['main/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [electronBanned],
          patterns: [
            {
              group: [
                '**/app/**',
                '**/cli/**',
                '**/web/**',
                '**/host/**',
                '**/server/**',
                '**/renderer/**',
                '**/preload/**',
              ],
              message:
                'main/engine/ is the bottom of main/: it may import only itself and common/.',
            },
          ],
        },
      ],
      'no-console': 'error',
    },
  },
  {
    // common/ is pure TypeScript + zod, shared by renderer, preload, main and server.
    files: ['common/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [electronBanned],
          patterns: [
            { group: ['node:*'], message: 'common/ is pure: it runs in the renderer too.' },
            {
              group: ['**/main/**', '**/server/**', '**/preload/**', '**/renderer/**'],
              message: 'common/ imports only zod and itself.',
            },
          ],
        },
      ],
      'no-console': 'error',
    },
  },
  {
    files: ['server/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [electronBanned],
          patterns: [
            {
              group: ['**/main/**', '**/preload/**', '**/renderer/**'],
              message: 'server/ stands alone: it shares only common/ with the rest.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['main/cli/**/*.ts', 'main/web/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [electronBanned],
          patterns: [
            {
              group: ['**/app/**', '**/renderer/**'],
              message: 'The headless side never loads the Electron shell.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.tsx'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [electronBanned, 'fs', 'path', 'child_process', 'better-sqlite3'],
          patterns: [
            {
              group: ['node:*'],
              message: 'The renderer reaches Node only through the contract in common/.',
            },
            {
              group: ['**/main/**', '**/server/**', '**/preload/**'],
              message: 'The renderer sees only common/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['tests/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off', // node:test's describe/it return promises by design
    },
  },
);
