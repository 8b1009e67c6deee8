// ESLint with typescript-eslint's type-checked rules, plus the layering of DESIGN.md enforced
// as import restrictions (CONVENTIONS.md "Layer by runtime, import in one direction").
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const electronBanned = {
  name: 'electron',
  message:
    'Only main/app/ and preload/ may import electron: the engine, CLI, web UI server and vault run under plain Node.',
};

// Each subcommand is independent: only main/cli/main.ts assembles them.
const commandsBanned = {
  group: ['**/cli/commands/**', '**/commands/*'],
  message:
    'Nothing imports main/cli/commands/ (only main/cli/main.ts assembles them); move shared code to main/host/ or main/cli/engine-setup.ts.',
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
    // The web UI server sits on the engine: the host starts it, never the other way round.
    files: ['main/web/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [electronBanned],
          patterns: [
            {
              group: ['**/app/**', '**/cli/**', '**/host/**', '**/renderer/**', '**/server/**'],
              message: 'main/web/ may import only main/engine/ and common/.',
            },
          ],
        },
      ],
    },
  },
  {
    // What both the desktop and the CLI start (engine, embedded vault, web UI).
    files: ['main/host/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [electronBanned],
          patterns: [
            {
              group: ['**/app/**', '**/cli/**', '**/renderer/**', '**/preload/**'],
              message:
                'main/host/ may import main/engine/, main/web/, server/ (the embedded vault) and common/; the desktop and the CLI import it.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['main/cli/**/*.ts'],
    ignores: ['main/cli/main.ts'],
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
            commandsBanned,
          ],
        },
      ],
    },
  },
  {
    // Only the CLI's entry point assembles the subcommands.
    files: ['main/cli/main.ts'],
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
    // The desktop shell starts the same host as the CLI; it never reaches into the CLI.
    files: ['main/app/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/cli/**', '**/renderer/**', '**/server/**'],
              message:
                'main/app/ starts main/host/ (engine, embedded vault, web UI); it never imports the CLI or the vault directly.',
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
