import { describe, expect, it } from 'vitest';
import { DeadlineQueue } from './deadline-queue.js';
import { DurationHistogram, histogramQuantile } from './duration-histogram.js';
import { FakeClock } from './fake-clock.js';
import { RatePolicy } from './policies/rate.js';
import { RateLimit } from './policies/rate-limit.js';
import { createWindow } from './policies/sliding-window.js';
import { isAllowedTransition } from './state.js';

describe('DurationHistogram', () => {
  it('buckets microsecond rejections apart from millisecond calls', () => {
    const h = new DurationHistogram();
    h.record(0.002); // 2 µs
    h.record(0.002);
    h.record(5); // 5 ms
    h.record(120_000); // past the last boundary
    const s = h.snapshot();
    expect(s.count).toBe(4);
    expect(s.counts[1]).toBe(2); // (1 µs, 2.5 µs]
    expect(s.counts.at(-1)).toBe(1);
    expect(s.min).toBeCloseTo(0.000002);
    expect(s.max).toBe(120);
    expect(h.total).toBe(4);
  });

  it('estimates quantiles like histogram_quantile', () => {
    const h = new DurationHistogram();
    expect(h.quantile(0.5)).toBeNull();
    for (let i = 0; i < 99; i++) h.record(0.003);
    h.record(40);
    expect(h.quantile(0.5)!).toBeGreaterThan(0.0000025);
    expect(h.quantile(0.5)!).toBeLessThanOrEqual(0.000005);
    expect(h.quantile(1)!).toBeLessThanOrEqual(0.04);
    expect(h.quantile(1)!).toBeGreaterThan(0.025);
    expect(
      histogramQuantile(
        { ...h.snapshot(), counts: h.snapshot().counts.map(() => 0), count: 1 },
        0.5,
      ),
    ).toBe(h.snapshot().max);
  });

  it('reports zeros when empty', () => {
    expect(new DurationHistogram().snapshot()).toMatchObject({ count: 0, sum: 0, min: 0, max: 0 });
  });
});

describe('DeadlineQueue', () => {
  it('keeps one timer, skips settled entries and compacts', () => {
    const clock = new FakeClock(0);
    const queue = new DeadlineQueue(clock, clock);
    const expired: number[] = [];
    const entries = Array.from({ length: 200 }, (_, i) =>
      queue.push(100 + i, () => expired.push(i)),
    );
    expect(clock.pendingTimers).toBe(1);
    expect(queue.nextExpiry).toBe(100);
    for (const e of entries.slice(0, 150)) e.done = true;
    clock.advance(150);
    expect(expired).toEqual([]); // settled entries dropped without firing
    expect(queue.size).toBe(50);
    clock.advance(100);
    expect(expired).toEqual([150]);
    expect(queue.size).toBe(49);
    clock.advance(1_000);
    expect(expired).toHaveLength(50);
    expect(queue.size).toBe(0);
    expect(queue.nextExpiry).toBe(Infinity);
    queue.push(5_000, () => expired.push(-1));
    queue.close();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('state whitelist', () => {
  it('never allows a transition to the same state', () => {
    expect(isAllowedTransition('open', 'open', 'manual_open')).toBe(false);
    expect(isAllowedTransition('closed', 'half_open', 'recovery_timeout')).toBe(false);
    expect(isAllowedTransition('closed', 'open', 'manual_open')).toBe(true);
  });
});

describe('FakeClock', () => {
  it('fires timers in order at their own times and can cancel them', () => {
    const clock = new FakeClock();
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), 20);
    const cancelled = clock.setTimeout(() => seen.push(-1), 10);
    clock.setTimeout(() => seen.push(clock.now()), 5);
    clock.clearTimeout(cancelled);
    clock.advance(30);
    expect(seen).toEqual([1_005, 1_020]);
    expect(clock.now()).toBe(1_030);
  });
});

describe('RatePolicy', () => {
  it('forgets everything on reset, for both window kinds', () => {
    for (const window of [
      { type: 'count', size: 5 } as const,
      { type: 'time', durationMs: 1_000 } as const,
    ]) {
      const policy = new RatePolicy(
        window,
        { threshold: 0.4, minimumCalls: 2, window },
        { durationThreshold: 10, rateThreshold: 1, minimumCalls: 3 },
      );
      policy.record(true, 50, 0);
      policy.reset();
      expect(policy.snapshot(0)).toEqual({
        kind: 'sliding_window',
        calls: 0,
        failures: 0,
        slow: 0,
        failureRate: 0,
        slowCallRate: 0,
      });
      expect(policy.record(false, 50, 0)).toBeUndefined();
      expect(policy.record(false, 50, 0)).toBeUndefined();
      expect(policy.record(false, 50, 0)).toBe('slow_call_rate');
      expect(policy.record(true, 0, 0)).toBeUndefined();
      expect(policy.record(true, 0, 0)).toBe('failure_rate');
    }
  });
});

describe('RateLimit', () => {
  it('agrees exactly with the division it replaces, at every count, for every rate', () => {
    const random = seeded(13);
    const rates = [0.07, 0.035, 0.1, 0.3, 1 / 3, 0.5, 0.57, 2 / 3, 0.999, 1];
    for (let i = 0; i < 40; i++) rates.push(Math.max(random(), Number.EPSILON));
    for (const rate of rates) {
      for (const [minimumCalls, maxCalls] of [
        [1, 1],
        [5, 20],
        [100, 100],
        [7, Infinity],
      ] as const) {
        const limit = new RateLimit(rate, minimumCalls, maxCalls);
        for (let calls = 0; calls <= 130; calls++) {
          for (let count = 0; count <= calls; count++) {
            const division = calls >= minimumCalls && count / calls >= rate;
            if (limit.reached(count, calls) !== division) {
              throw new Error(`rate ${rate}, min ${minimumCalls}: ${count}/${calls}`);
            }
          }
        }
      }
    }
  });
});

describe('CountWindow', () => {
  it('keeps running totals equal to a recount of its last outcomes', () => {
    const random = seeded(7);
    const window = createWindow({ type: 'count', size: 16 });
    const kept: Array<[boolean, boolean]> = [];
    for (let i = 0; i < 2_000; i++) {
      const failed = random() < 0.3;
      const slow = random() < 0.2;
      window.record(i, failed, slow);
      kept.push([failed, slow]);
      const last = kept.slice(-16);
      expect([window.calls, window.failures, window.slow]).toEqual([
        last.length,
        last.filter(([f]) => f).length,
        last.filter(([, s]) => s).length,
      ]);
      if (i === 1_000) {
        window.clear();
        kept.length = 0;
      }
    }
  });

  it('a time window, after each call, holds the totals of that moment', () => {
    const random = seeded(11);
    const window = createWindow({ type: 'time', durationMs: 1_000, buckets: 5 });
    let now = 0;
    for (let i = 0; i < 500; i++) {
      now += Math.floor(random() * 120);
      window.record(now, random() < 0.3, random() < 0.2);
      const { calls, failures, slow } = window;
      expect({ calls, failures, slow }).toEqual(
        window.totals(now, { calls: 0, failures: 0, slow: 0 }),
      );
    }
  });
});

/** A small deterministic random source (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the shared signal of calls without a timeout', () => {
  it('never aborts and keeps no listeners, however many calls subscribe', async () => {
    const { CircuitBreaker } = await import('./circuit-breaker.js');
    const breaker = new CircuitBreaker({ name: 'signal', registry: null });
    const signals = new Set<AbortSignal>();
    for (let i = 0; i < 100; i++) {
      await breaker.execute(({ signal }) => {
        signals.add(signal);
        signal.addEventListener('abort', () => undefined);
        signal.removeEventListener('abort', () => undefined);
      });
    }
    expect(signals.size).toBe(1);
    const [signal] = [...signals];
    expect(signal!.aborted).toBe(false);
    breaker.dispose();
  });
});

describe('CircuitOpenError', () => {
  it('is shared by the rejections of one open period, and its retry-after stays true', async () => {
    const { CircuitBreaker } = await import('./circuit-breaker.js');
    const { CircuitOpenError } = await import('./errors/index.js');
    const clock = new FakeClock(0);
    const breaker = new CircuitBreaker({
      name: 'shared',
      registry: null,
      clock,
      scheduler: clock,
      failureThreshold: 1,
      recoveryTimeout: 10_000,
    });
    await breaker.execute(() => Promise.reject(new Error('x'))).catch(() => undefined);
    const first = (await breaker.execute(() => 1).catch((e: unknown) => e)) as InstanceType<
      typeof CircuitOpenError
    >;
    clock.advance(4_000);
    const second = await breaker.execute(() => 1).catch((e: unknown) => e);
    expect(second).toBe(first);
    expect(first.retryAfterMs).toBe(6_000);
    expect(first.retryAfterSeconds).toBe(6);
    expect(first.message).toBe("Circuit breaker 'shared' is open; failing fast");
    expect(first.stack).toBe(`CircuitOpenError: ${first.message}`);
    expect(JSON.parse(JSON.stringify(first))).toEqual({
      name: 'CircuitOpenError',
      breakerName: 'shared',
      state: 'open',
      retryAt: 10_000,
    });
    clock.advance(6_000);
    await breaker.execute(() => Promise.reject(new Error('x'))).catch(() => undefined); // the probe fails
    const third = await breaker.execute(() => 1).catch((e: unknown) => e);
    expect(third).toBeInstanceOf(CircuitOpenError);
    expect(third).not.toBe(first);
    expect(first.retryAfterMs).toBe(0);
  });

  it('can be made by users, with the system clock by default', async () => {
    const { CircuitOpenError } = await import('./errors/index.js');
    const error = new CircuitOpenError('dep', 'open', 2_500);
    expect(error).toBeInstanceOf(Error);
    expect(error.retryAfterMs).toBeGreaterThan(2_000);
    expect(error.retryAfterSeconds).toBe(3);
    expect(new CircuitOpenError('dep', 'half_open', 0).retryAfterSeconds).toBe(1);
  });
});

describe('policies, one file each', () => {
  it('both policies see every failure: the streak that trips names it, the window still counts it', async () => {
    const { CircuitBreaker } = await import('./circuit-breaker.js');
    const breaker = new CircuitBreaker({
      name: 'both',
      registry: null,
      clock: new FakeClock(),
      failureThreshold: 2,
      failureRate: { threshold: 0.5, minimumCalls: 2, window: { type: 'count', size: 4 } },
    });
    const reasons: string[] = [];
    breaker.onStateChange((e) => reasons.push(e.reason));
    const failing = (): Promise<never> => Promise.reject(new Error('down'));
    for (let i = 0; i < 2; i++) await breaker.execute(failing).catch(() => undefined);
    expect(reasons).toEqual(['failure_threshold']); // the streak decides first
    expect(breaker.metrics().failure_rate).toEqual({ rate: 1, calls: 2, failures: 2 });
  });

  it('the consecutive streak restores only a sane count', async () => {
    const { ConsecutiveFailuresPolicy } = await import('./policies/consecutive-failures.js');
    const streak = new ConsecutiveFailuresPolicy(2);
    streak.restore(1.7);
    expect(streak.snapshot()).toEqual({ kind: 'consecutive_failures', failures: 1, threshold: 2 });
    streak.restore(NaN);
    expect(streak.snapshot()).toEqual({ kind: 'consecutive_failures', failures: 0, threshold: 2 });
  });

  it('a restored time window ignores entries of impossible ages or counts', () => {
    const window = { type: 'time', durationMs: 1_000, buckets: 4 } as const;
    const policy = new RatePolicy(window, { threshold: 1, minimumCalls: 1, window }, undefined);
    policy.restore(
      {
        type: 'time',
        durationMs: 1_000,
        buckets: 4,
        entries: [
          { age: 9, calls: 5, failures: 5, slow: 0 },
          { age: -1, calls: 5, failures: 5, slow: 0 },
          { age: 0, calls: 2, failures: 7, slow: -3 },
        ],
      },
      0,
    );
    expect(policy.snapshot(0)).toMatchObject({ calls: 2, failures: 2, slow: 0 });
  });
});
