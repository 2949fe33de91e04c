import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '@breakerbox/devkit';

const run = promisify(execFile);
const OPS = 20_000;
const MB = 1024 * 1024;

// The write paths allocate no per-request AbortSignal/EventTarget: those outlive the young
// generation and piled up in old space until a full collection (before the fix, 20k PUT/DELETE
// took the heap ~100 MB above its start, 250k to 177 MB). The child (test/support/heap-child.ts)
// serves the real composition on loopback, drives it with node:http and reports its heap.
// A 1 MB semi-space makes anything that survives a scavenge show up in the peak.
describe('heap under PUT/DELETE load', () => {
  it(`${OPS} PUT/DELETE through the Node server keep the heap bounded`, async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--expose-gc',
        '--max-semi-space-size=1',
        '--import',
        'tsx',
        'test/support/heap-child.ts',
        String(OPS),
      ],
      { cwd: ROOT, timeout: 120_000, maxBuffer: 16 * MB },
    );
    const line = stdout.trim().split('\n').at(-1)!;
    const result = JSON.parse(line) as {
      ops: number;
      before: number;
      after: number;
      peak: number;
      failed: number;
    };
    console.log(
      `heap: live ${(result.before / MB).toFixed(1)} MB -> ${(result.after / MB).toFixed(1)} MB after ${result.ops} PUT/DELETE; peak ${(result.peak / MB).toFixed(1)} MB`,
    );
    expect(result.failed).toBe(0);
    // Generous bounds: with the fix the growth is a few MB.
    expect(result.after - result.before).toBeLessThan(16 * MB);
    expect(result.peak - result.before).toBeLessThan(48 * MB);
  }, 150_000);
});
