import { ensureBuilt } from '@breakerbox/devkit';

/**
 * Runs once before all test files: checks the Node version and builds every package (the
 * library's dist/ and the service's dist/), which the tests that start the real service as a
 * child process (as `npm start` does) run.
 */
export default function setup(): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) throw new Error(`breakerbox needs Node.js >= 20, found ${process.versions.node}`);
  ensureBuilt({ force: true });
}
