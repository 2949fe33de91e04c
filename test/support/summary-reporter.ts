import type { Reporter, TestModule } from 'vitest/node';

/**
 * Ends every run with a plain `N passed, N failed` line (and `, N skipped`), which tools
 * that read test output can parse whatever the runner.
 */
export default class SummaryReporter implements Reporter {
  private line = '';

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) failed++;
    }
    this.line = `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
    // The coverage summary prints after the run ends; writing at exit keeps this line last
    // (stdout to a file or pipe is synchronous on Linux, so it is not lost).
    process.once('exit', () => process.stdout.write(`\n${this.line}\n`));
  }
}
