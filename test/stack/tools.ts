import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (test/stack/ is two levels down). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Absolute path of a file in the repository. */
export function repoPath(...segments: string[]): string {
  return path.join(REPO_ROOT, ...segments);
}

/** External binaries the stack tests need, and where to get them. */
const TOOLS = {
  promtool: { env: 'PROMTOOL', pkg: 'prometheus' },
  prometheus: { env: 'PROMETHEUS', pkg: 'prometheus' },
  amtool: { env: 'AMTOOL', pkg: 'prometheus-alertmanager' },
  alertmanager: { env: 'ALERTMANAGER', pkg: 'prometheus-alertmanager' },
} as const;
export type Tool = keyof typeof TOOLS;

/** Debian installs the Alertmanager binary as prometheus-alertmanager. */
const CANDIDATES: Record<Tool, readonly string[]> = {
  promtool: ['promtool'],
  prometheus: ['prometheus'],
  amtool: ['amtool'],
  alertmanager: ['alertmanager', 'prometheus-alertmanager'],
};

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Finds a tool ($PROMTOOL etc. first, then PATH). A missing tool is a test failure, never a
 * skip: CI installs these, and a green run without them would prove nothing.
 */
export function requireTool(tool: Tool): string {
  const { env, pkg } = TOOLS[tool];
  const override = process.env[env];
  if (override !== undefined && override !== '') {
    if (!isExecutable(override)) throw new Error(`${env}=${override} is not an executable file`);
    return override;
  }
  for (const name of CANDIDATES[tool]) {
    const found = onPath(name);
    if (found !== undefined) return found;
  }
  throw new Error(
    `${tool} not found on PATH (looked for ${CANDIDATES[tool].join(', ')}). The stack tests ` +
      `need it: install it (Debian/Ubuntu: apt-get install -y ${pkg}) or point ${env} at the ` +
      `binary.`,
  );
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr together, for assertion messages. */
  output: string;
}

/** Runs a command synchronously from the repository root (or cwd). */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): RunResult {
  const result = spawnSync(command, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? process.env,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
  });
  if (result.error) throw result.error;
  const stdout = result.stdout ?? '';
  const stderr = result.stderr ?? '';
  return { status: result.status, stdout, stderr, output: `${stdout}${stderr}` };
}
