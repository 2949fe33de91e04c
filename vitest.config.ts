import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/**/*.test.ts'],
      reporter: ['text-summary', 'json-summary'],
      thresholds: {
        // The engine is the product: hold it to a high bar.
        'src/breaker/**/*.ts': { lines: 95, branches: 95, functions: 95, statements: 95 },
        'src/telemetry/**/*.ts': { lines: 95, branches: 90 },
      },
    },
  },
});
