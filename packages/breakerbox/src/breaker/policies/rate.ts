import {
  createWindow,
  type OutcomeWindow,
  type SlidingWindow,
  type WindowExport,
} from './sliding-window.js';
import { RateLimit } from './rate-limit.js';
import type { PolicySnapshot, TripPolicy, TripReason } from './trip-policy.js';

export interface FailureRateOptions {
  /** Open when failures / calls in the window reaches this, in (0, 1]. */
  threshold: number;
  /** Never open on fewer calls than this in the window; at most a count window's size. */
  minimumCalls: number;
  window: SlidingWindow;
}

export interface SlowCallOptions {
  /** A call that takes longer than this many ms is slow, whatever its outcome. */
  durationThreshold: number;
  /** Open when slow calls / calls in the window reaches this, in (0, 1]. */
  rateThreshold: number;
  /** Never open on fewer calls than this in the window; at most a count window's size. */
  minimumCalls: number;
  /** The window, when there is no `failureRate` (whose window the two rates then share). Default: the last 100 calls. */
  window?: SlidingWindow;
}

/**
 * The failure rate and the slow-call rate (Resilience4j) over one shared sliding window.
 * Either may open the circuit; both are evaluated after every recorded call. That runs on
 * every closed call, so it is integer work: the window keeps running totals and each rate
 * is a table lookup (`RateLimit`), no division and no allocation.
 */
export class RatePolicy implements TripPolicy {
  private readonly window: OutcomeWindow;
  private readonly slowAfterMs: number;
  private readonly failureLimit: RateLimit | undefined;
  private readonly slowLimit: RateLimit | undefined;

  constructor(
    window: SlidingWindow,
    failureRate: FailureRateOptions | undefined,
    slowCall: SlowCallOptions | undefined,
  ) {
    this.window = createWindow(window);
    const maxCalls = window.type === 'count' ? window.size : Infinity;
    this.failureLimit =
      failureRate === undefined
        ? undefined
        : new RateLimit(failureRate.threshold, failureRate.minimumCalls, maxCalls);
    this.slowLimit =
      slowCall === undefined
        ? undefined
        : new RateLimit(slowCall.rateThreshold, slowCall.minimumCalls, maxCalls);
    this.slowAfterMs = slowCall === undefined ? Infinity : slowCall.durationThreshold;
  }

  record(failed: boolean, durationMs: number, now: number): TripReason | undefined {
    const w = this.window;
    w.record(now, failed, durationMs > this.slowAfterMs);
    // Both rates are above 0, so a count of 0 never trips: the usual call stops at a load.
    if (w.failures !== 0 && this.failureLimit?.reached(w.failures, w.calls) === true) {
      return 'failure_rate';
    }
    if (w.slow !== 0 && this.slowLimit?.reached(w.slow, w.calls) === true) {
      return 'slow_call_rate';
    }
    return undefined;
  }

  reset(): void {
    this.window.clear();
  }

  export(now: number): WindowExport {
    return this.window.export(now);
  }

  restore(saved: WindowExport, now: number): void {
    this.window.restore(saved, now);
  }

  snapshot(now: number): PolicySnapshot & { kind: 'sliding_window' } {
    const { calls, failures, slow } = this.window.totals(now, { calls: 0, failures: 0, slow: 0 });
    return {
      kind: 'sliding_window',
      calls,
      failures,
      slow,
      failureRate: calls === 0 ? 0 : failures / calls,
      slowCallRate: calls === 0 ? 0 : slow / calls,
    };
  }
}
