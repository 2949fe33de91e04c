import type { WindowExport } from './policies/sliding-window.js';
import type { BreakerMode, CircuitState } from './state.js';

/**
 * Portable state for `toJSON()` / `initialState`: remaining times and bucket ages, never
 * absolute clocks (the next process's monotonic clock starts elsewhere).
 *
 * Version 2 adds the rate window, so a breaker restored per invocation (serverless) still
 * trips on rate. Version 1 exports are still accepted (their window starts empty).
 */
export interface BreakerStateExport {
  version: 1 | 2;
  name: string;
  state: CircuitState;
  mode: BreakerMode;
  consecutiveFailures: number;
  /** Consecutive reopens without a close, which drives backoff. */
  reopens: number;
  /** Milliseconds of OPEN left when exported (open state only). */
  openRemainingMs?: number;
  /** The sliding window of the rate policies (version 2, when one is configured). */
  window?: WindowExport;
}

export const STATE_EXPORT_VERSION = 2;

/** A non-negative whole number from a value that may have been edited by hand. */
export function wholeNumber(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}
