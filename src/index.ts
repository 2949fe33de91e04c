// The published library: the engine and the telemetry that observes it.
// Depends on @opentelemetry/api only; the service layer (src/service, src/http, ...) is not exported.
export * from './breaker/index.js';
