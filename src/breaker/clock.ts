/** A monotonic clock in milliseconds. Wall-clock time jumps; circuit timing must not. */
export interface Clock {
  now(): number;
}

/**
 * Arms one-shot timers. The breaker arms at most one per state transition (never one per
 * call), so a fake scheduler in tests can fire them while moving a fake clock.
 */
export interface Scheduler {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = { now: () => performance.now() };

/** Real timers, unref'd so a breaker never keeps a process alive. */
export const systemScheduler: Scheduler = {
  setTimeout(callback, delayMs) {
    const handle = setTimeout(callback, Math.max(0, delayMs));
    handle.unref?.();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};
