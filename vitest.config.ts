import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    coverage: {
      provider: 'v8',
      include: ['packages/breakerbox/src/**/*.ts', 'src/**/*.ts'],
      exclude: ['**/*.test.ts'],
      reporter: ['text-summary', 'json-summary'],
      thresholds: {
        // The engine is the product: hold it to a high bar.
        'packages/breakerbox/src/breaker/**/*.ts': {
          lines: 95,
          branches: 95,
          functions: 95,
          statements: 95,
        },
        'packages/breakerbox/src/telemetry/**/*.ts': { lines: 95, branches: 90 },
      },
    },
  },
});
