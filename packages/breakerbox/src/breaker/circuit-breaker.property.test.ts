import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ALLOWED_TRANSITIONS,
  CircuitBreaker,
  CircuitState,
  FakeClock,
  type Permit,
  type StateChangeEvent,
} from './index.js';

type Command =
  | { kind: 'acquire' }
  | { kind: 'settle'; index: number; outcome: 'success' | 'failure' | 'ignore' }
  | { kind: 'drop'; index: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'execute'; outcome: 'success' | 'failure' | 'bad_result'; ms: number }
  | { kind: 'read' }
  | { kind: 'manual'; action: 'isolate' | 'disable' | 'reset' };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'acquire' } as const) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      index: fc.nat(20),
      outcome: fc.constantFrom('success', 'failure', 'ignore'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), index: fc.nat(20) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 0, max: 1_500 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('execute' as const),
      outcome: fc.constantFrom('success', 'failure', 'bad_result'),
      // Time the call takes (the fake clock moves inside it): some calls are slow.
      ms: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 })),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'read' } as const) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('manual' as const),
      action: fc.constantFrom('isolate', 'disable', 'reset'),
    }),
  },
);

const MANUAL_REASONS = new Set(['manual_reset', 'manual_open', 'manual_disable']);

const config = fc.record({
  failureThreshold: fc.integer({ min: 1, max: 4 }),
  recoveryTimeout: fc.integer({ min: 0, max: 1_000 }),
  halfOpenMaxCalls: fc.integer({ min: 1, max: 3 }),
  halfOpenMaxWait: fc.integer({ min: 1, max: 2_000 }),
  withScheduler: fc.boolean(),
  withRate: fc.boolean(),
  withSlowCall: fc.boolean(),
  timeWindow: fc.boolean(),
});

describe('random interleavings of concurrent calls, outcomes and clock moves', () => {
  it('hold the breaker invariants', async () => {
    await fc.assert(
      fc.asyncProperty(config, fc.array(command, { maxLength: 120 }), async (cfg, commands) => {
        const clock = new FakeClock(0);
        const breaker = new CircuitBreaker({
          name: 'prop',
          registry: null,
          clock,
          scheduler: cfg.withScheduler ? clock : undefined,
          failureThreshold: cfg.failureThreshold,
          recoveryTimeout: cfg.recoveryTimeout,
          halfOpenMaxCalls: cfg.halfOpenMaxCalls,
          halfOpenMaxWait: cfg.halfOpenMaxWait,
          failureRate: cfg.withRate
            ? {
                threshold: 0.5,
                minimumCalls: 4,
                window: cfg.timeWindow
                  ? { type: 'time', durationMs: 2_000, buckets: 4 }
                  : { type: 'count', size: 8 },
              }
            : undefined,
          slowCall: cfg.withSlowCall
            ? { durationThreshold: 150, rateThreshold: 0.5, minimumCalls: 3 }
            : undefined,
          isFailureResult: (value) => value === 'bad',
          wallClock: () => 1_700_000_000_000,
        });
        const recorded = { success: 0, failure: 0, rejected: 0, ignored: 0 };
        // Each pending permit remembers the HALF_OPEN period it was admitted in as a probe.
        const pending: Array<{ permit: Permit; period: number }> = [];
        let period = 0;
        let probes = 0;
        let halfOpenSince = -1;
        const transitions: StateChangeEvent[] = [];
        breaker.onStateChange((e) => {
          transitions.push(e);
          if (!MANUAL_REASONS.has(e.reason)) expect(ALLOWED_TRANSITIONS[e.from]).toContain(e.to);
          expect(e.from).not.toBe(e.to);
          if (e.to === CircuitState.HalfOpen) {
            probes = 0;
            period++;
            halfOpenSince = clock.now();
          }
        });

        for (const c of commands) {
          switch (c.kind) {
            case 'acquire': {
              const permit = breaker.tryAcquire();
              if (permit === undefined) recorded.rejected++;
              else {
                const isProbe = breaker.state === CircuitState.HalfOpen;
                if (isProbe) probes++;
                pending.push({ permit, period: isProbe ? period : -1 });
              }
              break;
            }
            case 'settle': {
              const entry = pending.splice(c.index % Math.max(1, pending.length), 1)[0];
              if (entry === undefined) break;
              const { permit } = entry;
              if (c.outcome === 'success') permit.success();
              else if (c.outcome === 'failure') permit.failure(new Error('x'));
              else {
                // An ignored probe frees its slot for another probe in the same period.
                if (entry.period === period && breaker.state === CircuitState.HalfOpen) probes--;
                permit.ignore();
              }
              recorded[c.outcome === 'ignore' ? 'ignored' : c.outcome]++;
              break;
            }
            case 'drop':
              pending.splice(c.index % Math.max(1, pending.length), 1);
              break;
            case 'advance':
              clock.advance(c.ms);
              break;
            case 'execute': {
              const admittedAsProbe = { value: false };
              const admittedClosed = { value: false };
              const result = await breaker
                .execute(() => {
                  admittedAsProbe.value = breaker.state === CircuitState.HalfOpen;
                  admittedClosed.value = breaker.state === CircuitState.Closed;
                  clock.advance(c.ms);
                  if (c.outcome === 'failure') throw new Error('x');
                  return c.outcome === 'bad_result' ? 'bad' : 'good';
                })
                .then(
                  (value) => (value === 'bad' ? ('failure' as const) : ('success' as const)),
                  (e: Error) =>
                    e.name === 'CircuitOpenError' ? ('rejected' as const) : ('failure' as const),
                );
              if (admittedAsProbe.value) probes++;
              recorded[result]++;
              // The rates are evaluated after every recorded call, successes included: a
              // breaker still closed after one never has a window standing at a trip.
              if (
                admittedClosed.value &&
                breaker.state === CircuitState.Closed &&
                breaker.mode === 'normal'
              ) {
                const { failure_rate: f, slow_call_rate: slow } = breaker.metrics();
                if (f !== null) expect(f.calls >= 4 && f.rate >= 0.5).toBe(false);
                if (slow !== null) expect(slow.calls >= 3 && slow.rate >= 0.5).toBe(false);
              }
              break;
            }
            case 'read': {
              // Reading never changes anything: no event, no new state, same snapshot.
              const before = JSON.stringify([breaker.toJSON(), breaker.metrics()]);
              const seen = transitions.length;
              for (let i = 0; i < 3; i++) void breaker.state;
              breaker.metrics();
              expect(transitions.length).toBe(seen);
              expect(JSON.stringify([breaker.toJSON(), breaker.metrics()])).toBe(before);
              break;
            }
            case 'manual':
              breaker[c.action]();
              if (c.action === 'reset') pending.length = 0; // old permits are stale now
              break;
          }
          const state = breaker.state;
          // Never more than N probes holding a slot in one HALF_OPEN period.
          if (state === CircuitState.HalfOpen) {
            expect(probes).toBeLessThanOrEqual(cfg.halfOpenMaxCalls);
            // Never HALF_OPEN past its max wait (its own timer; without one, the next call).
            if (cfg.withScheduler) {
              expect(clock.now() - halfOpenSince).toBeLessThan(cfg.halfOpenMaxWait);
            }
          }
          // Modes hold their promise.
          if (breaker.mode === 'isolated') expect(state).toBe(CircuitState.Open);
          if (breaker.mode === 'disabled') expect(state).toBe(CircuitState.Closed);
          const m = breaker.metrics();
          // The rates stay rates, over a window that never holds more than it may.
          for (const r of [m.failure_rate?.rate, m.slow_call_rate?.rate]) {
            if (r !== undefined) expect(r >= 0 && r <= 1).toBe(true);
          }
          if (!cfg.timeWindow && m.failure_rate !== null) {
            expect(m.failure_rate.calls).toBeLessThanOrEqual(8);
          }
          // A reported last failure always has its shape.
          if (m.last_failure !== null) {
            expect(['Error', 'FailureResultError', 'CallTimeoutError']).toContain(
              m.last_failure.error,
            );
          }
          // metrics() counts equal what was recorded.
          expect(m.calls).toEqual(recorded);
        }
        breaker.dispose();
      }),
      { numRuns: 1_000 },
    );
  });
});
