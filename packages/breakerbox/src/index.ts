// The published library: the engine and the telemetry that observes it.
// It depends on @opentelemetry/api only; the service layer is not exported from here.
export * from './breaker/index.js';
export * from './telemetry/index.js';
