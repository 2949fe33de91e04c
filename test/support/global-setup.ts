import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs once before all test files: checks the Node version and compiles dist/, which the
 * tests that start the real service as a child process (as `npm start` does) run.
 */
export default function setup(): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) throw new Error(`breakerbox needs Node.js >= 20, found ${process.versions.node}`);
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
}
