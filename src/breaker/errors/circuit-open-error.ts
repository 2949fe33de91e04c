import type { CircuitState } from '../state.js';

/**
 * Thrown (as a rejected promise) when a breaker refuses a call. Created without a stack
 * trace: capturing one costs microseconds, and the stack of a fail-fast rejection points
 * into the breaker, not at anything the caller can act on.
 */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  readonly breakerName: string;
  readonly state: CircuitState;
  /** Milliseconds until a call may be let through; Infinity while the breaker is isolated. */
  readonly retryAfterMs: number;

  constructor(breakerName: string, state: CircuitState, retryAfterMs: number) {
    super(`Circuit breaker '${breakerName}' is ${state}; failing fast`);
    this.breakerName = breakerName;
    this.state = state;
    this.retryAfterMs = retryAfterMs;
  }

  /** Whole seconds to wait, at least 1, as an HTTP `Retry-After` wants it; null if unknown. */
  get retryAfterSeconds(): number | null {
    return Number.isFinite(this.retryAfterMs)
      ? Math.max(1, Math.ceil(this.retryAfterMs / 1000))
      : null;
  }

  static create(breakerName: string, state: CircuitState, retryAfterMs: number): CircuitOpenError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new CircuitOpenError(breakerName, state, retryAfterMs);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}
