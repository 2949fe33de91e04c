export { CircuitBreaker } from './circuit-breaker.js';
export type { CallContext, FailureEvent, Permit, StateChangeEvent } from './circuit-breaker.js';
export { BreakerRegistry, defaultRegistry } from './registry.js';
export { CircuitState, ALLOWED_TRANSITIONS } from './state.js';
export type { BreakerMode, TransitionReason } from './state.js';
export type { BackoffOptions, CircuitBreakerOptions } from './options.js';
export type { FailureRateOptions, SlidingWindow } from './policies/failure-rate.js';
export type { TripPolicy, PolicySnapshot } from './policies/trip-policy.js';
export { CALL_OUTCOMES } from './snapshot.js';
export type { BreakerStateExport, CallOutcome, CircuitBreakerSnapshot } from './snapshot.js';
export {
  DURATION_BOUNDARIES_SECONDS,
  histogramQuantile,
  type HistogramSnapshot,
} from './duration-histogram.js';
export { systemClock, systemScheduler, type Clock, type Scheduler } from './clock.js';
export { FakeClock } from './fake-clock.js';
export type { Disposable, Event } from './events.js';
export * from './errors/index.js';
