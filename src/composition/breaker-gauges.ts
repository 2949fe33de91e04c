import { ValueType, type BatchObservableResult, type Meter } from '@opentelemetry/api';
import type { BreakerRegistry } from 'breakerbox';
import type { TransitionHistory } from '../http/dashboard/transition-history.js';

/**
 * Service-side gauges Grafana needs beside the contract's breaker metrics: the failure rate
 * of each breaker's sliding window against its threshold, and the reason of its last
 * transition (value: when it happened, Unix seconds). Read at scrape time; nothing runs
 * between scrapes.
 */
export function registerBreakerGauges(
  meter: Meter,
  registry: BreakerRegistry,
  history: TransitionHistory,
): () => void {
  const rate = meter.createObservableGauge('breakerbox.circuit_breaker.failure_rate', {
    description: "Failure rate over the breaker's sliding window (0..1), when a rate policy is set",
    valueType: ValueType.DOUBLE,
  });
  const threshold = meter.createObservableGauge(
    'breakerbox.circuit_breaker.failure_rate_threshold',
    {
      description: 'The failure rate (0..1) at or above which the breaker opens',
      valueType: ValueType.DOUBLE,
    },
  );
  const last = meter.createObservableGauge('breakerbox.circuit_breaker.last_transition', {
    description:
      'The last state change of each breaker, by reason: when it happened (Unix seconds)',
    unit: 's',
    valueType: ValueType.DOUBLE,
  });
  const callback = (result: BatchObservableResult): void => {
    for (const breaker of registry.list()) {
      const m = breaker.metrics();
      const name = { 'circuit_breaker.name': breaker.name };
      if (m.failure_rate !== null && m.config.failure_rate !== null) {
        result.observe(rate, m.failure_rate.rate, name);
        result.observe(threshold, m.config.failure_rate.threshold, name);
      }
      const t = history.lastTransition(breaker.name);
      if (t !== null) {
        result.observe(last, Date.parse(t.at) / 1000, {
          ...name,
          reason: t.reason,
          from_state: t.from,
          to_state: t.to,
        });
      }
    }
  };
  meter.addBatchObservableCallback(callback, [rate, threshold, last]);
  return () => meter.removeBatchObservableCallback(callback, [rate, threshold, last]);
}
