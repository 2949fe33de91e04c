import {
  createWindow,
  type OutcomeWindow,
  type SlidingWindow,
  type WindowExport,
  type WindowTotals,
} from './sliding-window.js';
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
 * Either may open the circuit; both are evaluated after every recorded call.
 */
export class RatePolicy implements TripPolicy {
  private readonly window: OutcomeWindow;
  /** Reused on every call: the totals never escape. */
  private readonly scratch: WindowTotals = { calls: 0, failures: 0, slow: 0 };
  private readonly slowAfterMs: number;

  constructor(
    window: SlidingWindow,
    private readonly failureRate: FailureRateOptions | undefined,
    private readonly slowCall: SlowCallOptions | undefined,
  ) {
    this.window = createWindow(window);
    this.slowAfterMs = slowCall === undefined ? Infinity : slowCall.durationThreshold;
  }

  record(failed: boolean, durationMs: number, now: number): TripReason | undefined {
    this.window.record(now, failed, durationMs > this.slowAfterMs);
    const { calls, failures, slow } = this.window.totals(now, this.scratch);
    const f = this.failureRate;
    if (f !== undefined && calls >= f.minimumCalls && failures / calls >= f.threshold) {
      return 'failure_rate';
    }
    const s = this.slowCall;
    if (s !== undefined && calls >= s.minimumCalls && slow / calls >= s.rateThreshold) {
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
