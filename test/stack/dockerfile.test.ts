import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { repoPath } from './tools.js';

interface Instruction {
  keyword: string;
  args: string;
  /** Index of the build stage (FROM) the instruction belongs to. */
  stage: number;
  line: number;
}

/** Dockerfile instructions: comments dropped, continuation lines joined. */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let stage = -1;
  let buffer = '';
  let startLine = 0;
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (buffer === '' && (line === '' || line.startsWith('#'))) return;
    if (buffer !== '' && line.startsWith('#')) return; // comment inside a continuation
    if (buffer === '') startLine = index + 1;
    if (line.endsWith('\\')) {
      buffer += `${line.slice(0, -1)} `;
      return;
    }
    buffer += line;
    const match = /^(\S+)\s*(.*)$/s.exec(buffer)!;
    const keyword = match[1]!.toUpperCase();
    if (keyword === 'FROM') stage++;
    instructions.push({ keyword, args: match[2]!.trim(), stage, line: startLine });
    buffer = '';
  });
  return instructions;
}

const dockerfile = readFileSync(repoPath('Dockerfile'), 'utf8');
const instructions = parseDockerfile(dockerfile);
const froms = instructions.filter((i) => i.keyword === 'FROM');
const finalStage = froms.length - 1;
const inFinal = instructions.filter((i) => i.stage === finalStage);
const stageNames = froms.map((f) => /\bAS\s+(\S+)/i.exec(f.args)?.[1]);

/** The service's V8 heap limit, in the image's CMD and in `npm start` alike. */
const HEAP_LIMIT_FLAG = '--max-old-space-size=512';

/** Anything that fetches from the network, other than the package manager's lockfile install. */
const FETCHES =
  /\b(curl|wget|git\s+clone|npx|pip\s+install|apt-get\s+install|apk\s+add)\b|https?:\/\//i;

describe('Dockerfile', () => {
  it('is multi-stage: a build stage and a runtime stage', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(stageNames.every((n) => n !== undefined)).toBe(true);
    expect(inFinal.some((i) => i.keyword === 'COPY' && /--from=/.test(i.args))).toBe(true);
  });

  it('builds on a Node.js LTS image (even major version, 20 or later), pinned by tag', () => {
    for (const from of froms) {
      const image = from.args.split(/\s+/)[0]!;
      if (stageNames.includes(image)) continue; // FROM an earlier stage
      const match = /^(?:docker\.io\/(?:library\/)?)?node:(\d+)[\w.-]*$/.exec(image);
      expect(match, `line ${from.line}: ${image}`).not.toBeNull();
      const major = Number(match![1]);
      expect(major).toBeGreaterThanOrEqual(20);
      expect(major % 2, `${image}: odd Node.js majors are never LTS`).toBe(0);
    }
  });

  it('installs from the lockfile, builds, generates the model, and prunes dev dependencies', () => {
    const runs = instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    // Scripts off: the root `prepare` would build before the sources are copied.
    expect(runs).toContain('npm ci --ignore-scripts');
    expect(runs).toContain('npm run build');
    expect(runs.some((r) => /^node dist\/cli\/make-test-model\.js .*models\//.test(r))).toBe(true);
    expect(runs.some((r) => /^npm prune --omit=dev$/.test(r))).toBe(true);
    const order = ['npm ci', 'npm run build', 'node dist/cli/make-test-model.js', 'npm prune'].map(
      (prefix) => runs.findIndex((r) => r.startsWith(prefix)),
    );
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('downloads nothing beyond npm ci, and nothing at all at run time', () => {
    for (const instruction of instructions) {
      if (instruction.keyword === 'ADD') {
        expect(instruction.args, `line ${instruction.line}`).not.toMatch(/https?:\/\/|git@/);
      }
      if (['RUN', 'CMD', 'ENTRYPOINT', 'HEALTHCHECK'].includes(instruction.keyword)) {
        // The health check asks the service itself on loopback.
        const args = instruction.args.replace(/http:\/\/127\.0\.0\.1:/g, 'LOOPBACK:');
        expect(args, `line ${instruction.line}: ${instruction.keyword}`).not.toMatch(FETCHES);
      }
    }
    expect(inFinal.filter((i) => i.keyword === 'RUN')).toEqual([]);
    const env = inFinal
      .filter((i) => i.keyword === 'ENV')
      .map((i) => i.args)
      .join(' ');
    expect(env).toMatch(/EMBEDDING_ALLOW_DOWNLOAD=false/);
    expect(env).toMatch(/EMBEDDING_MODEL=\/app\/models\//);
  });

  it('runs as a non-root user', () => {
    const users = inFinal.filter((i) => i.keyword === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.args.split(':')[0];
    expect(['root', '0', '']).not.toContain(user);
    // USER comes before the command it applies to.
    const cmd = inFinal.findIndex((i) => i.keyword === 'CMD');
    expect(inFinal.indexOf(users.at(-1)!)).toBeLessThan(cmd);
  });

  it('starts dist/main.js with a heap limit and checks liveness without curl or wget', () => {
    const cmd = inFinal.filter((i) => i.keyword === 'CMD').at(-1);
    expect(JSON.parse(cmd!.args)).toEqual(['node', HEAP_LIMIT_FLAG, 'dist/main.js']);
    const health = inFinal.find((i) => i.keyword === 'HEALTHCHECK');
    expect(health?.args).toMatch(/CMD \["node",/);
    expect(health?.args).toContain('/health/live');
    expect(
      inFinal
        .find((i) => i.keyword === 'EXPOSE')
        ?.args.split(/\s+/)
        .sort(),
    ).toEqual(['8001', '9464']);
  });

  it('copies the library workspace the service depends on, its build included', () => {
    const copies = instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copies).toContain('packages/breakerbox/package.json ./packages/breakerbox/package.json');
    expect(copies).toContain('packages/breakerbox/src ./packages/breakerbox/src');
    expect(
      inFinal.some((i) => i.keyword === 'COPY' && i.args.includes('/app/packages/breakerbox/dist')),
    ).toBe(true);
  });

  it('copies only files that exist in the build context, and .dockerignore keeps the rest out', () => {
    const ignored = readFileSync(repoPath('.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const entry of ['node_modules', 'dist', '.git', 'models', 'coverage']) {
      expect(ignored).toContain(entry);
    }
    for (const copy of instructions.filter(
      (i) => i.keyword === 'COPY' && !/--from=/.test(i.args),
    )) {
      const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const source of parts.slice(0, -1)) {
        expect(existsSync(repoPath(source)), `line ${copy.line}: ${source}`).toBe(true);
        expect(ignored, `${source} is copied but .dockerignore drops it`).not.toContain(source);
      }
    }
  });

  it('sets the same heap limit as npm start', () => {
    const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start!.split(/\s+/)).toContain(HEAP_LIMIT_FLAG);
  });

  it('agrees with docker-compose.yml on the ports and the liveness route', () => {
    const compose = parseYaml(readFileSync(repoPath('docker-compose.yml'), 'utf8')) as {
      services: {
        breakerbox: { healthcheck: { test: string[] }; environment: Record<string, string> };
      };
    };
    const service = compose.services.breakerbox;
    expect(service.healthcheck.test.join(' ')).toContain(
      `:${service.environment.PORT}/health/live`,
    );
    expect(dockerfile).toContain(`PORT=${service.environment.PORT}`);
    expect(dockerfile).toContain(
      `OTEL_EXPORTER_PROMETHEUS_PORT=${service.environment.OTEL_EXPORTER_PROMETHEUS_PORT}`,
    );
  });
});
