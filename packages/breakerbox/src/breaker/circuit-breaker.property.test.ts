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
  | { kind: 'execute'; outcome: 'success' | 'failure' };

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
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('execute' as const),
      outcome: fc.constantFrom('success', 'failure'),
    }),
  },
);

const config = fc.record({
  failureThreshold: fc.integer({ min: 1, max: 4 }),
  recoveryTimeout: fc.integer({ min: 0, max: 1_000 }),
  halfOpenMaxCalls: fc.integer({ min: 1, max: 3 }),
  halfOpenMaxWait: fc.integer({ min: 1, max: 2_000 }),
  withScheduler: fc.boolean(),
  withRate: fc.boolean(),
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
            ? { threshold: 0.5, minimumCalls: 4, window: { type: 'count', size: 8 } }
            : undefined,
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
          expect(ALLOWED_TRANSITIONS[e.from]).toContain(e.to);
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
              const result = await breaker
                .execute(() => {
                  admittedAsProbe.value = breaker.state === CircuitState.HalfOpen;
                  if (c.outcome === 'failure') throw new Error('x');
                  return 1;
                })
                .then(
                  () => 'success' as const,
                  (e: Error) =>
                    e.name === 'CircuitOpenError' ? ('rejected' as const) : ('failure' as const),
                );
              if (admittedAsProbe.value) probes++;
              recorded[result]++;
              break;
            }
          }
          const state = breaker.state;
          // Never more than N probes holding a slot in one HALF_OPEN period.
          if (state === CircuitState.HalfOpen) {
            expect(probes).toBeLessThanOrEqual(cfg.halfOpenMaxCalls);
            // Never HALF_OPEN past its max wait.
            expect(clock.now() - halfOpenSince).toBeLessThan(cfg.halfOpenMaxWait);
          }
          // metrics() counts equal what was recorded.
          expect(breaker.metrics().calls).toEqual(recorded);
        }
        breaker.dispose();
      }),
      { numRuns: 1_000 },
    );
  });
});
