import { systemClock, type Clock } from '../clock.js';
import type { CircuitState } from '../state.js';

/**
 * Rejects a call the breaker refused. It carries no stack trace: capturing one costs
 * microseconds, and the stack of a fail-fast rejection points into the breaker, not at
 * anything the caller can act on. The breaker makes one per open (or half-open) period and
 * rejects every refused call of that period with it, so a rejection allocates nothing; treat
 * it as read-only. `retryAfterMs` is computed when read, so it stays true as time passes.
 */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  readonly breakerName: string;
  readonly state: CircuitState;
  /** Monotonic time (the breaker's clock) from which a call may go through; Infinity while isolated. */
  readonly retryAt: number;
  /**
   * The error that last counted as a failure before this rejection (Polly's inner exception,
   * cockatiel's `lastFailure`); undefined when the circuit was opened by hand with no failure.
   */
  get lastFailure(): unknown {
    return this.#lastFailure;
  }
  // Private, so JSON.stringify of the error (an HTTP body, a log) never serializes the cause.
  readonly #lastFailure: unknown;
  readonly #clock: Clock;

  constructor(
    breakerName: string,
    state: CircuitState,
    retryAfterMs: number,
    clock: Clock = systemClock,
    lastFailure?: unknown,
  ) {
    super(`Circuit breaker '${breakerName}' is ${state}; failing fast`);
    this.breakerName = breakerName;
    this.state = state;
    this.#clock = clock;
    this.retryAt = clock.now() + retryAfterMs;
    this.#lastFailure = lastFailure;
  }

  /** Milliseconds until a call may be let through; Infinity while the breaker is isolated. */
  get retryAfterMs(): number {
    return Math.max(0, this.retryAt - this.#clock.now());
  }

  /** Whole seconds to wait, at least 1, as an HTTP `Retry-After` wants it; null if unknown. */
  get retryAfterSeconds(): number | null {
    const ms = this.retryAfterMs;
    return Number.isFinite(ms) ? Math.max(1, Math.ceil(ms / 1000)) : null;
  }

  /** @internal The stack-less error of one rejection period. */
  static until(
    breakerName: string,
    state: CircuitState,
    retryAt: number,
    clock: Clock,
    lastFailure?: unknown,
  ): CircuitOpenError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new CircuitOpenError(breakerName, state, retryAt - clock.now(), clock, lastFailure);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}
