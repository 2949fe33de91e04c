export { BreakerTelemetry, type BreakerTelemetryOptions } from './breaker-telemetry.js';
export type { BreakerLogger } from './logger.js';
export type { LogCounts } from './log-noise-reducer.js';
export * from './attributes.js';
