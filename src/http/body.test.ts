import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nestsDeeperThan } from './body.js';

/** The nesting depth of a JSON value, recursively (fine for the small values fast-check makes). */
function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (typeof value === 'object' && value !== null)
    return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  return 0;
}

describe('nestsDeeperThan', () => {
  it('agrees with the real depth of any JSON value, at any limit', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 8 }),
        fc.integer({ min: 0, max: 10 }),
        fc.boolean(),
        (value, limit, pretty) => {
          const text = JSON.stringify(value, null, pretty ? 2 : undefined);
          expect(nestsDeeperThan(text, limit)).toBe(depthOf(value) > limit);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(nestsDeeperThan(JSON.stringify({ a: '[[[[{{{{\\"[[[[' }), 1)).toBe(false);
    expect(nestsDeeperThan(JSON.stringify(['"', ['\\', [1]]]), 2)).toBe(true);
    expect(nestsDeeperThan(JSON.stringify(['"', ['\\', [1]]]), 3)).toBe(false);
  });

  it('scans a million levels without recursion', () => {
    const text = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    expect(nestsDeeperThan(text, 64)).toBe(true);
    expect(nestsDeeperThan(text, 1_000_000)).toBe(false);
  });
});
