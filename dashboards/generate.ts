/**
 * Generates the Grafana dashboards from their TypeScript source.
 *
 *   tsx dashboards/generate.ts            write grafana/dashboards/*.json
 *   tsx dashboards/generate.ts --check    exit 1 if a committed file differs from its source
 *   tsx dashboards/generate.ts --out DIR  write somewhere else
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DASHBOARDS, renderDashboard } from './index.js';

export const DEFAULT_OUT_DIR = fileURLToPath(new URL('../grafana/dashboards/', import.meta.url));

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

export function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      check: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  const outDir = path.resolve(values.out ?? DEFAULT_OUT_DIR);
  let stale = 0;
  for (const source of DASHBOARDS) {
    const file = path.join(outDir, source.file);
    const json = renderDashboard(source.build());
    const relative = path.relative(process.cwd(), file);
    if (values.check) {
      if (readOrNull(file) !== json) {
        console.error(`${relative} is out of date: run npm run dashboards`);
        stale++;
      }
      continue;
    }
    mkdirSync(outDir, { recursive: true });
    if (readOrNull(file) === json) {
      console.log(`${relative} unchanged`);
    } else {
      writeFileSync(file, json);
      console.log(`${relative} written`);
    }
  }
  return stale === 0 ? 0 : 1;
}

if (
  process.argv[1] !== undefined &&
  path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)
) {
  process.exitCode = main(process.argv.slice(2));
}
