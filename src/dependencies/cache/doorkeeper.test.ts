import { describe, expect, it } from 'vitest';
import { Doorkeeper } from './doorkeeper.js';

describe('Doorkeeper', () => {
  it('admits a key on its second read within a window', () => {
    const door = new Doorkeeper(100);
    expect(door.admit('k1')).toBe(false);
    expect(door.admit('k1')).toBe(true);
    expect(door.admit('k1')).toBe(true);
  });

  it('forgets after `window` marks, so "before" means recently', () => {
    const door = new Doorkeeper(4);
    expect(door.admit('old')).toBe(false);
    for (const key of ['a', 'b', 'c']) door.admit(key); // the 4th mark clears the window
    expect(door.admit('old')).toBe(false);
  });

  it('lets few first reads in by collision (8 bits per mark)', () => {
    const window = 10_000;
    const door = new Doorkeeper(window);
    let early = 0;
    for (let i = 0; i < window - 1; i++) if (door.admit(`key:${i}`)) early++;
    // Expected about 1 - e^(-1/8) at the end of the window and half that on average.
    expect(early / window).toBeLessThan(0.08);
  });

  it('validates its window', () => {
    expect(() => new Doorkeeper(0)).toThrow(/window/);
    expect(() => new Doorkeeper(1.5)).toThrow(/window/);
  });
});
