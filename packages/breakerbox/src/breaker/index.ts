export { CircuitBreaker } from './circuit-breaker.js';
export type {
  CallContext,
  FailureEvent,
  ModeChangeEvent,
  Permit,
  StateChangeEvent,
} from './circuit-breaker.js';
export { BreakerRegistry, defaultRegistry } from './registry.js';
export { CircuitState, ALLOWED_TRANSITIONS } from './state.js';
export type { BreakerMode, TransitionReason } from './state.js';
export type { BackoffOptions, CircuitBreakerOptions } from './options.js';
export type { FailureRateOptions, SlowCallOptions } from './policies/rate.js';
export type { SlidingWindow, WindowExport } from './policies/sliding-window.js';
export type { TripPolicy, TripReason, PolicySnapshot } from './policies/trip-policy.js';
export { CALL_OUTCOMES } from './snapshot.js';
export type { CallOutcome, CircuitBreakerSnapshot } from './snapshot.js';
export { STATE_EXPORT_VERSION, type BreakerStateExport } from './state-export.js';
export { redactCredentials, errorName, type LastFailure } from './last-failure.js';
export {
  exponentialBackoff,
  seededRandom,
  MAX_DELAY_MS,
  type Backoff,
  type ExponentialBackoffOptions,
  type Jitter,
  type RandomSource,
} from './backoff.js';
export {
  RetryPolicy,
  RetryDeadlineError,
  METRIC_RETRY_ATTEMPTS,
  METRIC_RETRY_GIVE_UPS,
  ATTR_RETRY_NAME,
  type AttemptContext,
  type GiveUpReason,
  type RetryBackoffOptions,
  type RetryOptions,
} from './retry.js';
export {
  DURATION_BOUNDARIES_SECONDS,
  histogramQuantile,
  type HistogramSnapshot,
} from './duration-histogram.js';
export { systemClock, systemScheduler, type Clock, type Scheduler } from './clock.js';
export { FakeClock } from './fake-clock.js';
export type { Disposable, Event } from './events.js';
export * from './errors/index.js';
