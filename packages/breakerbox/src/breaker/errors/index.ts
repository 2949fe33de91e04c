export { CircuitOpenError } from './circuit-open-error.js';
export { CallTimeoutError } from './call-timeout-error.js';
export { BreakerConfigError } from './config-error.js';
export { DuplicateBreakerError } from './duplicate-breaker-error.js';
export { FailureResultError } from './failure-result-error.js';
