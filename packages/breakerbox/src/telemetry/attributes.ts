/** Instrument, attribute and span-event names (the ones dashboards and alerts query), kept in one place. */
export const INSTRUMENTATION_SCOPE = 'breakerbox';
export const INSTRUMENTATION_VERSION = '0.1.0';

export const METRIC_STATE = 'circuit_breaker.state';
export const METRIC_TRANSITIONS = 'circuit_breaker.transitions';
export const METRIC_CALLS = 'circuit_breaker.calls';
export const METRIC_CALL_DURATION = 'circuit_breaker.call.duration';
export const METRIC_LOG_EVENTS = 'circuit_breaker.log_events';

export const ATTR_NAME = 'circuit_breaker.name';
export const ATTR_STATE = 'circuit_breaker.state';
export const ATTR_PREVIOUS_STATE = 'circuit_breaker.state.previous';
export const ATTR_FAILURE_COUNT = 'circuit_breaker.failure_count';
export const ATTR_REASON = 'circuit_breaker.transition.reason';
/** The OpenTelemetry semantic-convention attribute for the class of error that caused it. */
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_MODE = 'circuit_breaker.mode';
export const ATTR_PREVIOUS_MODE = 'circuit_breaker.mode.previous';

export const EVENT_STATE_CHANGE = 'circuit_breaker.state_change';
export const EVENT_REJECTED = 'circuit_breaker.rejected';
export const EVENT_MODE_CHANGE = 'circuit_breaker.mode_change';
