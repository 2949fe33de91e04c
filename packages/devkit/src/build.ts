import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './root.js';

/** The newest modification time of the non-test sources under `dir` (0 when it does not exist). */
function newest(dir: string): number {
  if (!existsSync(dir)) return 0;
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
    latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

/** Is `dist/main.js` (and the library's build) older than the sources it is built from? */
export function isBuildStale(): boolean {
  const main = join(ROOT, 'dist/main.js');
  const library = join(ROOT, 'packages/breakerbox/dist/index.js');
  if (!existsSync(main) || !existsSync(library)) return true;
  const built = Math.min(statSync(main).mtimeMs, statSync(library).mtimeMs);
  return newest(join(ROOT, 'src')) > built || newest(join(ROOT, 'packages/breakerbox/src')) > built;
}

/**
 * Builds every package (`npm run build`) when forced or when the build is missing or stale,
 * so tests, benches and the demo always run what the sources say. Returns whether it built.
 */
export function ensureBuilt(
  options: { force?: boolean; say?: (line: string) => void } = {},
): boolean {
  if (!options.force && !isBuildStale()) return false;
  options.say?.('Building (npm run build)…');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  return true;
}
