import type { Clock, Scheduler } from './clock.js';

interface Timer {
  id: number;
  at: number;
  callback: () => void;
}

/**
 * A clock and scheduler that only move when told to. Tests drive every time-based
 * transition with `advance()` and never sleep. Exported for users' own tests too.
 */
export class FakeClock implements Clock, Scheduler {
  private time: number;
  private nextId = 1;
  private timers: Timer[] = [];

  constructor(start = 1_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, delayMs: number): unknown {
    const timer = { id: this.nextId++, at: this.time + Math.max(0, delayMs), callback };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Moves time forward, firing due timers in order at their own times. */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      const due = this.timers
        .filter((t) => t.at <= target)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = Math.max(this.time, due.at);
      due.callback();
    }
    this.time = target;
  }

  get pendingTimers(): number {
    return this.timers.length;
  }
}
