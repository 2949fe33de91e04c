import {
  CircuitBreaker,
  type BreakerRegistry,
  type CircuitBreakerOptions,
  type Clock,
} from 'breakerbox';
import type { BreakerSettings, Config } from '../config/config.js';

/** Builds the service's breakers from their environment settings, in one registry. */
export interface BreakerFactory {
  (
    name: string,
    settings: BreakerSettings,
    options?: Pick<CircuitBreakerOptions, 'halfOpenMaxWait' | 'isFailure' | 'failureRate'>,
  ): CircuitBreaker;
}

/** A service breaker is critical exactly when CRITICAL_CIRCUITS names it. */
export function breakerFactory(
  config: Pick<Config, 'criticalCircuits'>,
  registry: BreakerRegistry,
  clock?: Clock,
): BreakerFactory {
  return (name, settings, options = {}) =>
    new CircuitBreaker({
      name,
      failureThreshold: settings.failureThreshold,
      recoveryTimeout: settings.recoveryTimeoutMs,
      halfOpenMaxCalls: settings.halfOpenMaxCalls,
      critical: config.criticalCircuits.includes(name),
      registry,
      ...(clock === undefined ? {} : { clock }),
      ...options,
    });
}
