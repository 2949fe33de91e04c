import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '@breakerbox/devkit';

/**
 * The library as a stranger gets it: packed from the working tree (`npm pack` runs its
 * `prepack` build), installed from the tarball into an empty project, used from ESM,
 * CommonJS and TypeScript.
 */

const work = mkdtempSync(join(tmpdir(), 'breakerbox-consumer-'));
const project = join(work, 'project');
let tarball = '';
let packed: { files: Array<{ path: string; size: number }>; unpackedSize: number } | undefined;

/** Runs a command; on failure the error carries what it printed, compiler messages included. */
function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/**
 * Type-checks `file` in `dir` with the repository's TypeScript, strict, against the installed
 * package's declarations (skipLibCheck off); throws with the compiler's messages if it fails.
 */
function typeCheck(dir: string, file: string, resolution: 'nodenext' | 'bundler'): void {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: resolution === 'nodenext' ? 'nodenext' : 'esnext',
        moduleResolution: resolution,
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: [],
      },
      files: [file],
    }),
  );
  run(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'],
    dir,
  );
}

/** Every package directory under node_modules, scoped ones as `@scope/name`. */
function installedPackages(modules: string): string[] {
  const names: string[] = [];
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) {
      for (const sub of readdirSync(join(modules, entry))) names.push(`${entry}/${sub}`);
    } else names.push(entry);
  }
  return names.sort();
}

const USAGE = `
const breaker = new CircuitBreaker({ name: 'consumer', failureThreshold: 2, recoveryTimeout: 1000, clock });
const ok = await breaker.execute(async () => 'ok');
await breaker.execute(async () => { throw new Error('down'); }).catch(() => undefined);
await breaker.execute(async () => { throw new Error('down'); }).catch(() => undefined);
const rejected = await breaker.execute(async () => 'never').catch((e) => e instanceof CircuitOpenError);
console.log(JSON.stringify({ ok, state: breaker.state, rejected, open: breaker.state === CircuitState.Open }));
`;

beforeAll(() => {
  const out = run('npm', ['pack', '-w', 'breakerbox', '--json', '--pack-destination', work], ROOT);
  const info = JSON.parse(out.slice(out.indexOf('['))) as Array<{
    filename: string;
    files: Array<{ path: string; size: number }>;
    unpackedSize: number;
  }>;
  packed = info[0];
  tarball = join(work, info[0]!.filename);
  execFileSync('mkdir', ['-p', project]);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
  );
  run('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], project);
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the breakerbox tarball', () => {
  it('holds only the library: its build, types, README and package.json, under 1 MiB', () => {
    const paths = packed!.files.map((f) => f.path);
    expect(paths).toContain('dist/index.js');
    expect(paths).toContain('dist/index.d.ts');
    expect(paths).toContain('dist/sdk/index.js');
    expect(paths).toContain('README.md');
    for (const path of paths) {
      expect(path).toMatch(/^(dist\/.*\.(js|d\.ts)|README\.md|LICENSE|package\.json)$/);
      expect(path).not.toMatch(/\.test\./);
    }
    expect(packed!.unpackedSize).toBeLessThan(1024 * 1024);
    expect(statSync(tarball).size).toBeLessThan(256 * 1024);
  });

  it('installs into an empty project as breakerbox and @opentelemetry/api, nothing else', () => {
    expect(installedPackages(join(project, 'node_modules'))).toEqual([
      '@opentelemetry/api',
      'breakerbox',
    ]);
  });

  it('works from ESM import', () => {
    const clock = `const clock = { now: () => 0 };`;
    writeFileSync(
      join(project, 'esm.mjs'),
      `import { CircuitBreaker, CircuitOpenError, CircuitState } from 'breakerbox';\n${clock}\n${USAGE}`,
    );
    expect(JSON.parse(run(process.execPath, ['esm.mjs'], project))).toEqual({
      ok: 'ok',
      state: 'open',
      rejected: true,
      open: true,
    });
  });

  it('works from CommonJS require', () => {
    writeFileSync(
      join(project, 'cjs.cjs'),
      `const { CircuitBreaker, CircuitOpenError, CircuitState } = require('breakerbox');\n` +
        `const clock = { now: () => 0 };\n(async () => {${USAGE}})();`,
    );
    const out = execFileSync(process.execPath, ['cjs.cjs'], {
      cwd: project,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(JSON.parse(out)).toMatchObject({ ok: 'ok', state: 'open', rejected: true });
  });

  const typed = `
import { CircuitBreaker, CircuitOpenError, CircuitState, type CircuitBreakerSnapshot } from 'breakerbox';
const clock = { now: (): number => 0 };
const breaker = new CircuitBreaker({ name: 'typed', failureThreshold: 3, recoveryTimeout: 1000, clock });
export async function demo(): Promise<string> {
  const value: number = await breaker.execute(async () => 42);
  const snapshot: CircuitBreakerSnapshot = breaker.metrics();
  const open: boolean = breaker.state === CircuitState.Open;
  const isOpenError = (e: unknown): boolean => e instanceof CircuitOpenError;
  return \`\${value} \${snapshot.state} \${open} \${isOpenError(new Error())}\`;
}
// @ts-expect-error a wrong option type is caught
new CircuitBreaker({ name: 'bad', failureThreshold: 'three' });
`;

  it('type-checks a CommonJS TypeScript file (.cts) under nodenext, which require()s it', () => {
    const dir = join(project, 'ts-cts');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(
      join(dir, 'consumer.cts'),
      `import breakerbox = require('breakerbox');\n` +
        `export const breaker = new breakerbox.CircuitBreaker({ name: 'cjs', failureThreshold: 3 });\n` +
        `export const isOpen = (e: unknown): boolean => e instanceof breakerbox.CircuitOpenError;\n`,
    );
    typeCheck(dir, 'consumer.cts', 'nodenext');
  });

  it("runs the README's quick start as written, and it type-checks", () => {
    const readme = readFileSync(join(ROOT, 'packages/breakerbox/README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Quick start'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code).toBeDefined();
    const dir = join(project, 'quickstart');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'quickstart.mts'), code!);
    const tsx = join(ROOT, 'node_modules/tsx/dist/esm/index.mjs');
    const out = run(process.execPath, ['--import', tsx, 'quickstart.mts'], dir);
    expect(out).toContain('unavailable: true');
    expect(out).toContain('stock: 42');
    expect(
      out
        .trim()
        .split('\n')
        .filter((l) => / (open|closed)$/.test(l))
        .map((l) => l.split(' ').at(-1)),
    ).toEqual(['closed', 'closed', 'open', 'open', 'closed']);
    typeCheck(dir, 'quickstart.mts', 'nodenext');
  });

  for (const resolution of ['nodenext', 'bundler'] as const) {
    it(`type-checks with TypeScript, module/moduleResolution ${resolution}`, () => {
      const dir = join(project, `ts-${resolution}`);
      execFileSync('mkdir', ['-p', dir]);
      writeFileSync(join(dir, 'consumer.ts'), typed);
      typeCheck(dir, 'consumer.ts', resolution);
    });
  }
});
