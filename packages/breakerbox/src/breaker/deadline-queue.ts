import type { Clock, Scheduler } from './clock.js';

interface Deadline {
  readonly at: number;
  done: boolean;
  readonly onExpire: () => void;
}

/**
 * Call timeouts without a timer per call. Every call through one breaker has the same
 * timeout and the clock is monotonic, so deadlines arrive in push order: a FIFO queue and
 * one timer armed for its head are enough. Settled calls are dropped lazily.
 */
export class DeadlineQueue {
  private entries: Deadline[] = [];
  private head = 0;
  private timer: unknown = undefined;
  private armedFor = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
  ) {}

  get size(): number {
    return this.entries.length - this.head;
  }

  push(at: number, onExpire: () => void): Deadline {
    const entry: Deadline = { at, done: false, onExpire };
    this.entries.push(entry);
    if (this.timer === undefined) this.arm(at);
    return entry;
  }

  close(): void {
    if (this.timer !== undefined) this.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
    this.entries = [];
    this.head = 0;
  }

  private arm(at: number): void {
    this.armedFor = at;
    this.timer = this.scheduler.setTimeout(() => this.expire(), at - this.clock.now());
  }

  private expire(): void {
    this.timer = undefined;
    const now = this.clock.now();
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head]!;
      if (!entry.done && entry.at > now) break;
      this.head++;
      if (!entry.done) {
        entry.done = true;
        entry.onExpire();
      }
    }
    // Compact once the consumed prefix dominates, keeping memory bounded by in-flight calls.
    if (this.head > 64 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    const next = this.entries[this.head];
    if (next !== undefined) this.arm(next.at);
    else this.armedFor = Infinity;
  }

  /** For tests: the deadline the single timer is armed for. */
  get nextExpiry(): number {
    return this.armedFor;
  }
}
