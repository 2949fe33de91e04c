// `npm run demo` (scripts/demo.ts) end to end: it starts everything, drives both breakers
// through a full open -> half-open -> closed cycle, and stops with nothing left running,
// both by itself (--duration) and on Ctrl-C (SIGINT to its whole process group).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '@breakerbox/devkit';

interface Run {
  child: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const runs: Run[] = [];

function startDemo(args: string[]): Run {
  // `node --import tsx` is what `npm run demo` (tsx scripts/demo.ts) runs, minus the wrappers,
  // and in a process group of its own, as a terminal would start it.
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const run = { child, output: () => out, exit };
  runs.push(run);
  return run;
}

afterEach(async () => {
  // Only if a test failed half way: never leave a demo (or its children) behind.
  for (const run of runs.splice(0)) {
    if (run.child.exitCode === null && run.child.signalCode === null) {
      try {
        process.kill(-run.child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await run.exit;
    }
  }
});

async function waitForOutput(
  run: Run,
  pattern: RegExp,
  timeoutMs: number,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = pattern.exec(run.output());
    if (match !== null) return match;
    if (run.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`demo output never matched ${pattern}:\n${run.output()}`);
}

async function exitWithin(run: Run, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`demo still running after ${timeoutMs} ms:\n${run.output()}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([run.exit, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** True while a process with this pid exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function startedPids(output: string): number[] {
  const line = /processes: service pid (\d+)(?:, redis-server pid (\d+))?/.exec(output);
  expect(line, output).not.toBeNull();
  return [line![1], line![2]].filter((p): p is string => p !== undefined).map(Number);
}

function transitions(output: string): Map<string, Array<[string, string]>> {
  const byBreaker = new Map<string, Array<[string, string]>>();
  for (const m of output.matchAll(
    /^\[\s*[\d.]+s\] (\w+)\s+(closed|open|half_open) -> (closed|open|half_open)\b/gm,
  )) {
    const list = byBreaker.get(m[1]!) ?? [];
    list.push([m[2]!, m[3]!]);
    byBreaker.set(m[1]!, list);
  }
  return byBreaker;
}

/** closed -> open, later open -> half_open, later half_open -> closed. */
function hasFullCycle(list: Array<[string, string]> | undefined): boolean {
  const wanted: Array<[string, string]> = [
    ['closed', 'open'],
    ['open', 'half_open'],
    ['half_open', 'closed'],
  ];
  let i = 0;
  for (const step of list ?? []) {
    if (i < wanted.length && step[0] === wanted[i]![0] && step[1] === wanted[i]![1]) i++;
  }
  return i === wanted.length;
}

describe('npm run demo', () => {
  it('cycles both breakers through open, half-open and closed, then stops by itself', async () => {
    const run = startDemo(['--duration', '45']);
    const dashboard = await waitForOutput(
      run,
      /Dashboard:\s+(http:\/\/127\.0\.0\.1:\d+)\/dashboard/,
      60_000,
    );
    const base = dashboard[1]!;
    expect(run.output()).toMatch(/Health:\s+http:\/\/127\.0\.0\.1:\d+\/health/);
    expect(run.output()).toMatch(/Metrics:\s+http:\/\/127\.0\.0\.1:\d+\/metrics/);
    const pids = startedPids(run.output());
    expect(pids.length).toBe(2); // redis-server is installed here
    const workDir = dirname(/models:\s+(\S+)/.exec(run.output())![1]!);
    expect(existsSync(workDir)).toBe(true);

    // The dashboard is up while the demo runs, and sees the breakers move.
    const page = await fetch(`${base}/dashboard`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('bb-config');
    const seen = new Map<string, Set<string>>();
    const deadline = Date.now() + 60_000;
    while (run.child.exitCode === null && Date.now() < deadline) {
      try {
        const data = (await (await fetch(`${base}/dashboard/data`)).json()) as {
          breakers: Array<{ name: string; state: string }>;
          critical_open: string[];
        };
        for (const b of data.breakers) {
          if (!seen.has(b.name)) seen.set(b.name, new Set());
          seen.get(b.name)!.add(b.state);
        }
        if (data.critical_open.length > 0) seen.get('embedding_service')!.add('critical_banner');
      } catch {
        // the demo is stopping
      }
      await new Promise((r) => setTimeout(r, 500));
    }

    const { code } = await exitWithin(run, 30_000);
    const output = run.output();
    expect(code, output).toBe(0);
    expect(output).toMatch(/Stopped: the service, redis-server and the fault proxy are gone\./);

    const byBreaker = transitions(output);
    expect(hasFullCycle(byBreaker.get('redis_cache')), output).toBe(true);
    expect(hasFullCycle(byBreaker.get('embedding_service')), output).toBe(true);
    // Both outages also show a failed probe (half_open -> open) before recovery.
    expect(byBreaker.get('redis_cache')).toContainEqual(['half_open', 'open']);
    expect(byBreaker.get('embedding_service')).toContainEqual(['half_open', 'open']);
    expect([...(seen.get('redis_cache') ?? [])]).toEqual(
      expect.arrayContaining(['closed', 'open']),
    );
    expect([...(seen.get('embedding_service') ?? [])]).toEqual(
      expect.arrayContaining(['closed', 'open', 'critical_banner']),
    );

    for (const pid of pids) expect(alive(pid), `pid ${pid} still running`).toBe(false);
    expect(existsSync(workDir)).toBe(false);
  }, 120_000);

  it('stops cleanly on Ctrl-C, with nothing left running', async () => {
    const run = startDemo([]);
    await waitForOutput(run, /Traffic starts now/, 60_000);
    const pids = startedPids(run.output());
    await new Promise((r) => setTimeout(r, 2_000));
    // A terminal's Ctrl-C: SIGINT to the whole foreground process group.
    process.kill(-run.child.pid!, 'SIGINT');
    const { code } = await exitWithin(run, 20_000);
    expect(code, run.output()).toBe(0);
    expect(run.output()).toMatch(/Stopping \(SIGINT\)/);
    expect(run.output()).toMatch(/Stopped:/);
    for (const pid of pids) expect(alive(pid), `pid ${pid} still running`).toBe(false);
  }, 90_000);
});
