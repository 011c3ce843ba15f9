// Lint configuration: typescript-eslint's type-aware rules over everything
// tsconfig.json covers. The rules that matter most here are the promise rules:
// a dropped promise on a socket path is a lost error or an unhandled rejection
// that takes the process down.
import js from '@eslint/js';
import globals from 'globals';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['dist/', 'dist-bench/', 'node_modules/', 'bench/results/', '.readme-examples-*/'],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.node },
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // Stores and codecs answer synchronously or with a promise (`T | Promise<T>`) so the
      // in-memory path never awaits; Promise.all over such values is deliberate.
      '@typescript-eslint/await-thenable': ['error', { allowMixedPromiseArrays: true }],
      // A caught error is rethrown as is (`reject(err)`), whatever its type.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // A leading underscore marks a binding kept on purpose (omitted by a destructuring rest, or a
      // parameter an interface requires).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Off: `xs[i]!` marks a read known to be in bounds; without noUncheckedIndexedAccess the
      // checker calls every such `!` unnecessary.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Off: `async` on a method with no await is how a Promise-returning interface is met and a
      // synchronous throw becomes a rejection.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['test/**', 'scripts/**'],
    rules: {
      // Off in tests and dev scripts: they read JSON off the wire or from result files
      // untyped and assert on its shape; the assertion is the type check.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
