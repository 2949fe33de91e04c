// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/dist/',
      'coverage/',
      '**/node_modules/',
      'models/',
      '.tmp/',
      'grafana/dashboards/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'CallExpression[callee.property.name=/^(only|skip|todo)$/][callee.object.name=/^(it|test|describe)$/]',
          message: 'No focused or skipped tests on main.',
        },
      ],
    },
  },
  {
    // The published library: OpenTelemetry API only, no I/O. `breakerbox/sdk` may also use
    // the SDK packages it names as optional peer dependencies.
    files: ['packages/breakerbox/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!@opentelemetry/api$|\\.{1,2}/|node:perf_hooks$)',
              message: 'The library may import only @opentelemetry/api and its own modules.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/breakerbox/src/sdk/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!@opentelemetry/(api|sdk-metrics|resources)$|\\.{1,2}/|node:perf_hooks$)',
              message: 'breakerbox/sdk may import only the OpenTelemetry packages it peers with.',
            },
          ],
        },
      ],
    },
  },
  {
    // Everything else uses the library as an outside user would: by its package name.
    files: [
      'src/**/*.ts',
      'test/**/*.ts',
      'bench/**/*.ts',
      'scripts/**/*.ts',
      'packages/devkit/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: 'packages/breakerbox|^(\\.{1,2}/)+(breaker|telemetry)/',
              message: "Import the library as 'breakerbox' (or 'breakerbox/sdk'), never by path.",
            },
          ],
        },
      ],
    },
  },
);
