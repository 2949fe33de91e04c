import { MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BreakerConfigError,
  CircuitBreaker,
  CircuitOpenError,
  FakeClock,
  RetryDeadlineError,
  RetryPolicy,
  exponentialBackoff,
  seededRandom,
  type RetryOptions,
} from './index.js';

class InMemoryReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** Lets the promise callbacks of an attempt run, without moving time. */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

/** Moves the fake clock in small steps, letting attempts settle in between: never a sleep. */
async function advance(clock: FakeClock, ms: number, step = 10): Promise<void> {
  await flush();
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await flush();
  }
}

function setup(options: Partial<RetryOptions> = {}, breaker?: CircuitBreaker) {
  const clock = new FakeClock(0);
  const reader = new InMemoryReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const retry = new RetryPolicy({
    clock,
    backoff: () => 100,
    meterProvider,
    ...(breaker === undefined ? {} : { breaker }),
    ...options,
  });
  const counters = async (): Promise<Record<string, number>> => {
    const { resourceMetrics } = await reader.collect();
    const out: Record<string, number> = {};
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints as DataPoint<number>[]) {
          const label = point.attributes.outcome ?? point.attributes.reason;
          out[`${metric.descriptor.name}:${String(label)}`] = point.value;
        }
      }
    }
    return out;
  };
  return { clock, retry, counters };
}

function breakerOn(clock: FakeClock, failureThreshold = 2): CircuitBreaker {
  return new CircuitBreaker({
    name: 'model_load',
    registry: null,
    clock,
    scheduler: clock,
    failureThreshold,
    recoveryTimeout: 10_000,
  });
}

describe('RetryPolicy', () => {
  it('retries transient failures with backoff on the fake clock, and counts attempts', async () => {
    const { clock, retry, counters } = setup({ maxAttempts: 3 });
    let calls = 0;
    const result = retry.execute(({ attempt }) => {
      calls++;
      return attempt < 3 ? Promise.reject(new Error('transient')) : Promise.resolve('loaded');
    });
    await flush();
    expect(calls).toBe(1);
    await advance(clock, 100);
    expect(calls).toBe(2);
    await advance(clock, 100);
    await expect(result).resolves.toBe('loaded');
    expect(clock.pendingTimers).toBe(0);
    expect(await counters()).toEqual({
      'circuit_breaker.retry.attempts:failure': 2,
      'circuit_breaker.retry.attempts:success': 1,
    });
  });

  it('property: attempts are bounded by maxAttempts, and no timer is left behind', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), async (maxAttempts) => {
        const { clock, retry } = setup({
          maxAttempts,
          backoff: { initialDelay: 5, maxDelay: 40, jitter: 'full' },
          random: seededRandom(maxAttempts),
        });
        let calls = 0;
        const result = retry.execute(() => {
          calls++;
          throw new Error('down');
        });
        const settled = result.catch((e: unknown) => e);
        await advance(clock, 500, 5);
        expect(await settled).toMatchObject({ message: 'down' });
        expect(calls).toBe(maxAttempts);
        expect(clock.pendingTimers).toBe(0);
      }),
      { numRuns: 30 },
    );
  });

  it('never retries into an open circuit: the failure that opened it ends the loop, with no wait', async () => {
    const clock = new FakeClock(0);
    const breaker = breakerOn(clock, 2);
    const { retry, counters } = setup({ maxAttempts: 5, clock }, breaker);
    let calls = 0;
    const result = retry
      .execute(() => {
        calls++;
        return Promise.reject(new Error('down'));
      })
      .catch((e: unknown) => e);
    await advance(clock, 1_000);
    expect(await result).toMatchObject({ message: 'down' });
    expect(calls).toBe(2);
    expect(breaker.state).toBe('open');
    expect(breaker.callCount('failure')).toBe(2); // one breaker call per attempt
    expect(clock.pendingTimers).toBe(1); // only the breaker's own recovery timer

    // Already open: a CircuitOpenError ends it at once, with the breaker's retry-after.
    const again = await retry
      .execute(() => {
        calls++;
        return 'never';
      })
      .catch((e: unknown) => e);
    expect(again).toBeInstanceOf(CircuitOpenError);
    expect((again as CircuitOpenError).retryAfterMs).toBeGreaterThan(8_000);
    expect(calls).toBe(2);
    expect(await counters()).toMatchObject({
      'circuit_breaker.retry.give_ups:circuit_open': 2,
      'circuit_breaker.retry.attempts:failure': 2,
    });
    breaker.dispose();
  });

  it('passes each attempt the breaker call signal and its number', async () => {
    const clock = new FakeClock(0);
    const breaker = breakerOn(clock, 5);
    const { retry } = setup({ clock }, breaker);
    const seen: number[] = [];
    const result = retry.execute(({ attempt, signal }) => {
      seen.push(attempt);
      expect(signal.aborted).toBe(false);
      return attempt === 1 ? Promise.reject(new Error('once')) : 'ok';
    });
    await advance(clock, 100);
    await expect(result).resolves.toBe('ok');
    expect(seen).toEqual([1, 2]);
    expect(breaker.callCount('success')).toBe(1);
    breaker.dispose();
  });

  it('gives up at once on an error that is not retryable (or a filter that throws)', async () => {
    for (const isRetryable of [
      (e: unknown) => (e as Error).message !== 'fatal',
      () => {
        throw new Error('broken filter');
      },
    ]) {
      const { retry, counters } = setup({ isRetryable });
      let calls = 0;
      const error = await retry
        .execute(() => {
          calls++;
          return Promise.reject(new Error('fatal'));
        })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ message: 'fatal' });
      expect(calls).toBe(1);
      expect(await counters()).toMatchObject({ 'circuit_breaker.retry.give_ups:not_retryable': 1 });
    }
  });

  it('respects the total deadline: no wait that ends past it', async () => {
    const { clock, retry, counters } = setup({ maxAttempts: 10, deadline: 250 });
    let calls = 0;
    const result = retry
      .execute(() => {
        calls++;
        return Promise.reject(new Error('down'));
      })
      .catch((e: unknown) => e);
    await advance(clock, 300);
    const error = await result;
    expect(error).toBeInstanceOf(RetryDeadlineError);
    expect(error).toMatchObject({ attempts: 3, deadlineMs: 250 });
    expect((error as RetryDeadlineError).lastError).toMatchObject({ message: 'down' });
    expect(calls).toBe(3); // at 0, 100 and 200; the next would start at 300
    expect(clock.pendingTimers).toBe(0);
    expect(await counters()).toMatchObject({ 'circuit_breaker.retry.give_ups:deadline': 1 });
  });

  it('aborts an attempt still running at the deadline; through a breaker it is ignored, not a failure', async () => {
    const clock = new FakeClock(0);
    const breaker = breakerOn(clock, 1);
    const { retry } = setup({ clock, deadline: 500 }, breaker);
    let signal: AbortSignal | undefined;
    const result = retry
      .execute((ctx) => {
        signal = ctx.signal;
        return new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
        );
      })
      .catch((e: unknown) => e);
    await advance(clock, 500);
    expect(await result).toBeInstanceOf(RetryDeadlineError);
    expect(signal?.aborted).toBe(true);
    await flush();
    expect(breaker.callCount('ignored')).toBe(1);
    expect(breaker.state).toBe('closed');
    expect(clock.pendingTimers).toBe(0);
    breaker.dispose();
  });

  it('an AbortSignal stops it, during a wait or before the first attempt', async () => {
    const { clock, retry, counters } = setup({ maxAttempts: 5 });
    const controller = new AbortController();
    let calls = 0;
    const result = retry
      .execute(() => {
        calls++;
        return Promise.reject(new Error('down'));
      }, controller.signal)
      .catch((e: unknown) => e);
    await advance(clock, 50);
    controller.abort(new Error('caller gave up'));
    expect(await result).toMatchObject({ message: 'caller gave up' });
    await advance(clock, 1_000);
    expect(calls).toBe(1);
    expect(clock.pendingTimers).toBe(0);

    const early = await retry
      .execute(
        () => {
          calls++;
        },
        AbortSignal.abort(new Error('already')),
      )
      .catch((e: unknown) => e);
    expect(early).toMatchObject({ message: 'already' });
    expect(calls).toBe(1);
    expect(await counters()).toMatchObject({ 'circuit_breaker.retry.give_ups:aborted': 2 });
  });

  it('validates its options', () => {
    expect(() => new RetryPolicy({ maxAttempts: 0 })).toThrow(BreakerConfigError);
    expect(() => new RetryPolicy({ deadline: 0 })).toThrow(/deadline/);
    expect(() => new RetryPolicy({ backoff: { initialDelay: 10, maxDelay: 5 } })).toThrow(
      /maxDelay/,
    );
    expect(() => new RetryPolicy({ backoff: { multiplier: 0.5 } })).toThrow(/multiplier/);
    expect(new RetryPolicy().name).toBe('retry');
    expect(new RetryPolicy({ breaker: breakerOn(new FakeClock()) }).maxAttempts).toBe(3);
  });

  it('runs on real timers when given no clock, and leaves none behind', async () => {
    const retry = new RetryPolicy({ backoff: () => 0, maxAttempts: 2 });
    let calls = 0;
    await expect(
      retry.execute(() => (++calls === 1 ? Promise.reject(new Error('x')) : 'ok')),
    ).resolves.toBe('ok');
  });
});

describe('backoff', () => {
  it('property: jittered delays are bounded and deterministic under a seeded random source', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.constantFrom('none', 'full', 'decorrelated' as const),
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 0, max: 20_000 }),
        (seed, jitter, initialDelay, extra) => {
          const maxDelay = initialDelay + extra;
          const delays = (): number[] => {
            const b = exponentialBackoff({
              initialDelay,
              maxDelay,
              jitter,
              random: seededRandom(seed),
            });
            const out: number[] = [];
            let previous = 0;
            for (let attempt = 0; attempt < 12; attempt++)
              out.push((previous = b.delay(attempt, previous)));
            return out;
          };
          const first = delays();
          expect(delays()).toEqual(first);
          first.forEach((d, attempt) => {
            const exponential = Math.min(maxDelay, initialDelay * 2 ** attempt);
            expect(d).toBeLessThanOrEqual(maxDelay);
            if (jitter === 'none') expect(d).toBe(exponential);
            if (jitter === 'full') expect(d >= 0 && d <= exponential).toBe(true);
            if (jitter === 'decorrelated') expect(d).toBeGreaterThanOrEqual(initialDelay);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('seededRandom is uniform enough and in [0, 1)', () => {
    const random = seededRandom(42);
    const values = Array.from({ length: 10_000 }, random);
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
  });
});
