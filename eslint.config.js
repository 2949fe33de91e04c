// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', 'models/', '.tmp/', 'grafana/dashboards/'] },
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
    // The engine and its telemetry are the published library: OpenTelemetry API only, no I/O.
    files: ['src/breaker/**/*.ts', 'src/telemetry/**/*.ts', 'src/index.ts'],
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
);
