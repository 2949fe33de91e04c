import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BreakerConfigError,
  CircuitBreaker,
  CircuitOpenError,
  FailureResultError,
  FakeClock,
  redactCredentials,
  seededRandom,
  type CircuitBreakerOptions,
  type ModeChangeEvent,
  type StateChangeEvent,
} from './index.js';

const fail = (): Promise<never> => Promise.reject(new Error('dependency down'));
const ok = (): Promise<string> => Promise.resolve('ok');

function setup(options: Partial<CircuitBreakerOptions> = {}) {
  const clock = new FakeClock(0);
  const breaker = new CircuitBreaker({
    name: 'engine',
    registry: null,
    clock,
    scheduler: clock,
    wallClock: () => Date.UTC(2030, 0, 1),
    ...options,
  });
  const events: StateChangeEvent[] = [];
  const modes: ModeChangeEvent[] = [];
  breaker.onStateChange((e) => events.push(e));
  breaker.onModeChange((e) => modes.push(e));
  return { clock, breaker, events, modes };
}

/** A call that takes `ms` on the fake clock, then succeeds or fails. */
function timed(clock: FakeClock, ms: number, outcome: 'success' | 'failure') {
  return (): Promise<string> => {
    clock.advance(ms);
    return outcome === 'success' ? ok() : fail();
  };
}

async function run(breaker: CircuitBreaker, fn: () => Promise<unknown>): Promise<void> {
  await breaker.execute(fn).catch(() => undefined);
}

const rate = { threshold: 0.5, minimumCalls: 4, window: { type: 'count', size: 10 } } as const;

describe('issue 13 defects, each fixed', () => {
  it('halfOpenMaxWait 0 is rejected (it would expire every probe at once), as is any bad duration', () => {
    expect(() => setup({ halfOpenMaxWait: 0 })).toThrow(BreakerConfigError);
    expect(() => setup({ halfOpenMaxWait: 0 })).toThrow(/halfOpenMaxWait/);
    for (const bad of [-1, NaN, Infinity, 2 ** 31]) {
      expect(() => setup({ recoveryTimeout: bad })).toThrow(BreakerConfigError);
      expect(() => setup({ callTimeout: bad })).toThrow(BreakerConfigError);
    }
    expect(() =>
      setup({ failureRate: { ...rate, window: { type: 'time', durationMs: Infinity } } }),
    ).toThrow(/durationMs/);
    expect(() =>
      setup({ slowCall: { durationThreshold: 0, rateThreshold: 0.5, minimumCalls: 1 } }),
    ).toThrow(/durationThreshold/);
  });

  it('minimumCalls larger than a count window is rejected: the policy could never trip', () => {
    expect(() =>
      setup({
        failureRate: { threshold: 0.5, minimumCalls: 11, window: { type: 'count', size: 10 } },
      }),
    ).toThrow(/failureRate.minimumCalls.*never trip/);
    expect(() =>
      setup({ slowCall: { durationThreshold: 10, rateThreshold: 0.5, minimumCalls: 101 } }),
    ).toThrow(/slowCall.minimumCalls/);
    // A time window has no such limit.
    expect(() =>
      setup({
        failureRate: { ...rate, minimumCalls: 1_000, window: { type: 'time', durationMs: 1_000 } },
      }),
    ).not.toThrow();
  });

  it('toJSON exports the rate window (versioned), so a restored breaker still trips on rate', async () => {
    const first = setup({ failureRate: rate });
    await run(first.breaker, fail);
    await run(first.breaker, ok);
    await run(first.breaker, ok);
    const saved = JSON.parse(JSON.stringify(first.breaker));
    expect(saved).toMatchObject({
      version: 2,
      window: { type: 'count', size: 10, outcomes: [1, 0, 0] },
    });

    const next = setup({ failureRate: rate, initialState: saved });
    expect(next.breaker.metrics().failure_rate).toEqual({ rate: 1 / 3, calls: 3, failures: 1 });
    await run(next.breaker, fail); // 2 of 4
    expect(next.breaker.state).toBe('open');
    expect(next.events.map((e) => e.reason)).toEqual(['failure_rate']);
  });

  it('a time window survives export too, by bucket age; a window of another shape is dropped', async () => {
    const window = { type: 'time', durationMs: 1_000, buckets: 4 } as const;
    const first = setup({ failureRate: { ...rate, window } });
    await run(first.breaker, fail);
    first.clock.advance(300);
    await run(first.breaker, ok);
    const saved = first.breaker.toJSON();
    const later = new FakeClock(50_000);
    const restored = new CircuitBreaker({
      name: 'restored',
      registry: null,
      clock: later,
      scheduler: later,
      failureRate: { ...rate, window },
      initialState: saved,
    });
    expect(restored.metrics().failure_rate).toEqual({ rate: 0.5, calls: 2, failures: 1 });
    later.advance(800); // the older bucket ages out, as it would have
    expect(restored.metrics().failure_rate?.calls).toBe(1);

    const other = setup({
      failureRate: { ...rate, window: { type: 'count', size: 5 } },
      initialState: saved,
    });
    expect(other.breaker.metrics().failure_rate?.calls).toBe(0);
    expect(() => setup({ initialState: { ...saved, version: 3 as 2 } })).toThrow(/version/);
    // Version 1 exports (no window) are still accepted.
    const v1 = setup({
      failureRate: rate,
      initialState: { ...saved, version: 1, window: undefined },
    });
    expect(v1.breaker.state).toBe('closed');
  });

  it('the rate is evaluated after every recorded call: a success can complete the minimum', async () => {
    const { breaker, events } = setup({ failureRate: rate });
    await run(breaker, fail);
    await run(breaker, fail);
    await run(breaker, ok);
    expect(breaker.state).toBe('closed'); // 3 calls: under the minimum
    await run(breaker, ok); // 4 calls, 2 failures: 50%
    expect(breaker.state).toBe('open');
    expect(events[0]?.reason).toBe('failure_rate');
  });

  it('disable() keeps measuring everything: the streak, the window and the counts', async () => {
    const { breaker, events } = setup({ failureThreshold: 2, failureRate: rate });
    breaker.disable();
    for (let i = 0; i < 5; i++) await run(breaker, fail);
    await run(breaker, ok);
    await run(breaker, fail);
    const m = breaker.metrics();
    expect(m.state).toBe('closed');
    expect(m.failure_count).toBe(1);
    expect(m.failure_rate).toEqual({ rate: 6 / 7, calls: 7, failures: 6 });
    expect(m.calls.failure).toBe(6);
    expect(events).toEqual([]);
  });

  it('reading state or metrics has no side effects; the breaker own timer moves it', async () => {
    let now = 0;
    const breaker = new CircuitBreaker({
      name: 'read',
      registry: null,
      clock: { now: () => now },
      failureThreshold: 1,
      recoveryTimeout: 10,
      halfOpenMaxWait: 100,
    });
    const events: StateChangeEvent[] = [];
    breaker.onStateChange((e) => events.push(e));
    await run(breaker, fail);
    now = 10;
    expect(breaker.tryAcquire()).toBeDefined(); // half-open, probe never reported
    now = 1_000;
    for (let i = 0; i < 3; i++) {
      expect(breaker.state).toBe('half_open');
      expect(breaker.metrics().state).toBe('half_open');
    }
    expect(events.map((e) => e.to)).toEqual(['open', 'half_open']);

    const {
      clock,
      breaker: timed,
      events: timedEvents,
    } = setup({
      failureThreshold: 1,
      recoveryTimeout: 10,
      halfOpenMaxWait: 100,
    });
    await run(timed, fail);
    clock.advance(10);
    timed.tryAcquire();
    clock.advance(100); // the half-open timer fires: no call, no read needed
    expect(timedEvents.map((e) => e.reason)).toEqual([
      'failure_threshold',
      'recovery_timeout',
      'half_open_timeout',
    ]);
  });
});

describe('one owner per job', () => {
  it('settle internals are truly private', () => {
    const { breaker } = setup();
    for (const name of ['settle', 'settleError', 'settleSuccess', 'admit', 'transition']) {
      expect(name in breaker).toBe(false);
    }
  });

  it('isolate, disable and reset fire mode events, and state events whenever the state moves', async () => {
    const { breaker, events, modes } = setup({ failureThreshold: 1 });
    breaker.disable();
    breaker.isolate();
    breaker.isolate();
    breaker.reset();
    await run(breaker, fail);
    breaker.isolate(); // already open: a mode change, no state change
    expect(breaker.metrics().retry_after_seconds).toBeNull();
    breaker.reset();
    expect(modes.map((m) => `${m.from}>${m.to}`)).toEqual([
      'normal>disabled',
      'disabled>isolated',
      'isolated>normal',
      'normal>isolated',
      'isolated>normal',
    ]);
    expect(events.map((e) => `${e.from}>${e.to}:${e.reason}`)).toEqual([
      'closed>open:manual_open',
      'open>closed:manual_reset',
      'closed>open:failure_threshold',
      'open>closed:manual_reset',
    ]);
  });

  it('the streak and the window are reported side by side, neither overwriting the other', async () => {
    const { breaker } = setup({ failureThreshold: 10, failureRate: { ...rate, minimumCalls: 10 } });
    await run(breaker, fail);
    await run(breaker, fail);
    await run(breaker, ok);
    await run(breaker, fail);
    const m = breaker.metrics();
    expect(m.failure_count).toBe(1);
    expect(m.failure_rate).toEqual({ rate: 0.75, calls: 4, failures: 3 });
  });

  it('success_count is the lifetime count since the last reset', async () => {
    const { breaker } = setup();
    await run(breaker, ok);
    await run(breaker, ok);
    breaker.reset();
    await run(breaker, ok);
    expect(breaker.metrics().success_count).toBe(1);
    expect(breaker.callCount('success')).toBe(3);
  });
});

describe('slow-call rate', () => {
  const slowCall = { durationThreshold: 100, rateThreshold: 0.5, minimumCalls: 4 };

  it('opens on slow successes alone, over a count window', async () => {
    const { clock, breaker, events } = setup({ slowCall });
    await run(breaker, timed(clock, 150, 'success'));
    await run(breaker, timed(clock, 10, 'success'));
    await run(breaker, timed(clock, 100, 'success')); // at the threshold: not slow
    expect(breaker.state).toBe('closed');
    await run(breaker, timed(clock, 101, 'success')); // 2 of 4 slow
    expect(breaker.state).toBe('open');
    expect(events[0]?.reason).toBe('slow_call_rate');
    expect(events[0]?.errorName).toBeUndefined();
    expect(breaker.slowCallCount()).toBe(2);
  });

  it('shares the window with the failure rate: a slow failure counts for both', async () => {
    const { clock, breaker } = setup({
      failureRate: { threshold: 0.75, minimumCalls: 4, window: { type: 'count', size: 4 } },
      slowCall: { ...slowCall, rateThreshold: 0.75 },
    });
    await run(breaker, timed(clock, 200, 'failure'));
    await run(breaker, timed(clock, 0, 'failure'));
    await run(breaker, timed(clock, 200, 'success'));
    expect(breaker.metrics().failure_rate).toEqual({ rate: 2 / 3, calls: 3, failures: 2 });
    expect(breaker.metrics().slow_call_rate).toEqual({ rate: 2 / 3, calls: 3, slow: 2 });
    expect(breaker.metrics().config.slow_call).toEqual({
      duration_threshold: 0.1,
      rate_threshold: 0.75,
      minimum_calls: 4,
      window: '4 calls',
    });
    await run(breaker, timed(clock, 150, 'success')); // slow 3/4, failures 2/4
    expect(breaker.state).toBe('open');
  });

  it('over a time window, slow calls age out', async () => {
    const { clock, breaker } = setup({
      slowCall: { ...slowCall, minimumCalls: 2, window: { type: 'time', durationMs: 1_000 } },
    });
    await run(breaker, timed(clock, 500, 'success'));
    clock.advance(2_000);
    await run(breaker, timed(clock, 0, 'success'));
    expect(breaker.state).toBe('closed');
    expect(breaker.metrics().slow_call_rate).toEqual({ rate: 0, calls: 1, slow: 0 });
    await run(breaker, timed(clock, 500, 'success'));
    expect(breaker.state).toBe('open');
  });

  it('a slow probe reopens the circuit', async () => {
    const { clock, breaker, events } = setup({
      failureThreshold: 1,
      recoveryTimeout: 10,
      slowCall,
    });
    await run(breaker, fail);
    clock.advance(10);
    await run(breaker, timed(clock, 500, 'success'));
    expect(breaker.state).toBe('open');
    expect(events.at(-1)?.reason).toBe('probe_slow');
  });

  it('cannot set two windows', () => {
    expect(() =>
      setup({ failureRate: rate, slowCall: { ...slowCall, window: { type: 'count', size: 5 } } }),
    ).toThrow(/set the window once/);
    expect(() => setup({ slowCall: { ...slowCall, rateThreshold: 0 } })).toThrow(/rateThreshold/);
  });

  it('property: the slow-call rate equals the share of slow calls in the last N, failures mixed in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ ms: fc.integer({ min: 0, max: 200 }), fails: fc.boolean() }), {
          maxLength: 40,
        }),
        async (calls) => {
          const { clock, breaker } = setup({
            slowCall: {
              durationThreshold: 100,
              rateThreshold: 1,
              minimumCalls: 10,
              window: { type: 'count', size: 10 },
            },
          });
          breaker.disable(); // measure only, so every call is recorded
          for (const c of calls)
            await run(breaker, timed(clock, c.ms, c.fails ? 'failure' : 'success'));
          const last = calls.slice(-10);
          const slow = last.filter((c) => c.ms > 100).length;
          expect(breaker.metrics().slow_call_rate).toEqual({
            rate: last.length === 0 ? 0 : slow / last.length,
            calls: last.length,
            slow,
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('result classification', () => {
  it('a resolved value isFailureResult flags is a failure, and the caller still gets it', async () => {
    const { breaker, events } = setup({
      failureThreshold: 2,
      isFailureResult: (r) => (r as { status: number }).status >= 500,
    });
    await expect(breaker.execute(() => ({ status: 503 }))).resolves.toEqual({ status: 503 });
    await expect(breaker.execute(() => Promise.resolve({ status: 200 }))).resolves.toEqual({
      status: 200,
    });
    expect(breaker.metrics().failure_count).toBe(0);
    await breaker.execute(() => ({ status: 500 }));
    await breaker.execute(() => ({ status: 502 }));
    expect(breaker.state).toBe('open');
    expect(events[0]?.errorName).toBe('FailureResultError');
    expect((breaker.lastFailure as FailureResultError).result).toEqual({ status: 502 });
  });

  it('a classifier that throws counts the call as a failure; timeouts path classifies too', async () => {
    const { breaker } = setup({
      failureThreshold: 1,
      callTimeout: 1_000,
      isFailureResult: () => {
        throw new Error('broken');
      },
    });
    await breaker.execute(() => 'x');
    expect(breaker.state).toBe('open');
  });
});

describe('why it opened, everywhere', () => {
  const secret = new Error(
    'connect to redis://admin:hunter2@cache:6379 failed; password=hunter2&db=0; Authorization: Bearer abc.def-ghi',
  );
  Object.defineProperty(secret, 'code', { value: 'ECONNREFUSED' });

  it('CircuitOpenError.lastFailure, metrics().last_failure (redacted) and the event carry it', async () => {
    const { breaker, events } = setup({ failureThreshold: 1 });
    expect(breaker.metrics().last_failure).toBeNull();
    await run(breaker, () => Promise.reject(secret));
    const rejection = await breaker.execute(ok).catch((e: unknown) => e);
    expect(rejection).toBeInstanceOf(CircuitOpenError);
    expect((rejection as CircuitOpenError).lastFailure).toBe(secret);
    expect(JSON.stringify(rejection)).not.toContain('hunter2');
    const last = breaker.metrics().last_failure!;
    expect(last.error).toBe('ECONNREFUSED');
    expect(last.at).toBe('2030-01-01T00:00:00.000Z');
    expect(last.message).not.toMatch(/hunter2|abc\.def/);
    expect(last.message).toContain('redis://[REDACTED]@cache:6379');
    expect(events[0]).toMatchObject({
      reason: 'failure_threshold',
      errorName: 'ECONNREFUSED',
      lastFailure: secret,
    });
    breaker.reset();
    expect(breaker.metrics().last_failure).toBeNull();
  });

  it('a manual open carries no failure', async () => {
    const { breaker } = setup();
    breaker.isolate();
    const rejection = (await breaker.execute(ok).catch((e: unknown) => e)) as CircuitOpenError;
    expect(rejection.lastFailure).toBeUndefined();
  });

  it('redacts userinfo, password-like pairs and bearer or basic credentials', () => {
    expect(redactCredentials('https://u:p@h/x?token=abc&x=1')).toBe(
      'https://[REDACTED]@h/x?token=[REDACTED]&x=1',
    );
    expect(redactCredentials('pwd: "s e c"; Basic dXNlcjpwYXNz')).toBe(
      'pwd: [REDACTED]; Basic [REDACTED]',
    );
    expect(redactCredentials('nothing to hide')).toBe('nothing to hide');
  });

  it('names errors by name, then code, and non-errors by type', async () => {
    const { errorName } = await import('./last-failure.js');
    expect(errorName(new TypeError('x'))).toBe('TypeError');
    expect(errorName(Object.assign(new Error('x'), { code: 'ETIMEDOUT' }))).toBe('ETIMEDOUT');
    expect(errorName(new Error('x'))).toBe('Error');
    expect(errorName({ name: '' })).toBe('Error');
    expect(errorName('boom')).toBe('string');
  });
});

describe('recovery backoff', () => {
  it('takes a function of the reopens (a break-duration generator); bad results fall back', async () => {
    const seen: number[] = [];
    const { clock, breaker } = setup({
      failureThreshold: 1,
      recoveryTimeout: 50,
      backoff: (reopens) => {
        seen.push(reopens);
        if (reopens === 2) return NaN;
        if (reopens === 3) throw new Error('bad generator');
        return 100 * (reopens + 1);
      },
    });
    const opens: number[] = [];
    breaker.onStateChange((e) => {
      if (e.to === 'open') opens.push(breaker.metrics().retry_after_seconds! * 1000);
    });
    await run(breaker, fail);
    for (const wait of [100, 200, 50, 50]) {
      clock.advance(wait);
      await run(breaker, fail);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(opens).toEqual([100, 200, 50, 50, 500]);
    expect(breaker.metrics().config.max_recovery_timeout).toBeNull();
  });

  it('decorrelated jitter: bounded by recoveryTimeout and the cap, reproducible from a seed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), fc.integer({ min: 1, max: 12 }), async (seed, reopens) => {
        const durations = async (): Promise<number[]> => {
          const { clock, breaker } = setup({
            failureThreshold: 1,
            recoveryTimeout: 100,
            backoff: { maxRecoveryTimeout: 1_000, jitter: 'decorrelated' },
            random: seededRandom(seed),
          });
          const out: number[] = [];
          await run(breaker, fail);
          for (let i = 0; i < reopens; i++) {
            const wait = breaker.metrics().retry_after_seconds! * 1000;
            out.push(wait);
            clock.advance(Math.ceil(wait)); // seconds -> ms may round just under
            await run(breaker, fail);
          }
          return out;
        };
        const first = await durations();
        expect(await durations()).toEqual(first);
        for (const d of first) expect(d >= 100 - 1e-6 && d <= 1_000 + 1e-6).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('rejects an unknown jitter', () => {
    expect(() =>
      setup({ backoff: { maxRecoveryTimeout: 10, jitter: 'full' as 'none' }, recoveryTimeout: 1 }),
    ).toThrow(/jitter/);
  });
});
