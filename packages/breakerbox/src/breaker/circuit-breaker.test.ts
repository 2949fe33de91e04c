import { describe, expect, it } from 'vitest';
import {
  BreakerConfigError,
  BreakerRegistry,
  CallTimeoutError,
  CircuitBreaker,
  CircuitOpenError,
  CircuitState,
  DuplicateBreakerError,
  FakeClock,
  type CircuitBreakerOptions,
  type StateChangeEvent,
} from './index.js';

const boom = new Error('dependency down');
const fail = (): Promise<never> => Promise.reject(boom);
const ok = (): Promise<string> => Promise.resolve('ok');

function setup(options: Partial<CircuitBreakerOptions> = {}) {
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({
    name: 'test',
    registry: null,
    clock,
    scheduler: clock,
    ...options,
  });
  const events: StateChangeEvent[] = [];
  breaker.onStateChange((e) => events.push(e));
  return { clock, breaker, events };
}

async function failTimes(breaker: CircuitBreaker, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await breaker.execute(fail).catch(() => undefined);
}

describe('configuration (plan: TestCircuitBreakerConfig)', () => {
  it('has the documented defaults: threshold 5, recovery 30 s, one half-open call', () => {
    const breaker = new CircuitBreaker({ name: 'service', registry: null });
    const { config } = breaker.metrics();
    expect(config.failure_threshold).toBe(5);
    expect(config.recovery_timeout).toBe(30);
    expect(config.half_open_max_calls).toBe(1);
    expect(breaker.name).toBe('service');
    breaker.dispose();
  });

  it('takes custom values', () => {
    const { breaker } = setup({
      failureThreshold: 3,
      recoveryTimeout: 60_000,
      halfOpenMaxCalls: 2,
      name: 'redis',
    });
    expect(breaker.metrics().config).toMatchObject({
      failure_threshold: 3,
      recovery_timeout: 60,
      half_open_max_calls: 2,
    });
    expect(breaker.name).toBe('redis');
  });

  it.each([
    [{ failureThreshold: 0 }, 'failureThreshold'],
    [{ failureThreshold: 1.5 }, 'failureThreshold'],
    [{ recoveryTimeout: -1 }, 'recoveryTimeout'],
    [{ halfOpenMaxCalls: 0 }, 'halfOpenMaxCalls'],
    [{ callTimeout: 0 }, 'callTimeout'],
    [{ name: '' }, 'name'],
    [{ backoff: { maxRecoveryTimeout: 10 } }, 'backoff.maxRecoveryTimeout'],
    [{ backoff: { multiplier: 0.5, maxRecoveryTimeout: 1e6 } }, 'backoff.multiplier'],
    [
      { failureRate: { threshold: 0, minimumCalls: 1, window: { type: 'count', size: 10 } } },
      'failureRate.threshold',
    ],
    [
      { failureRate: { threshold: 0.5, minimumCalls: 0, window: { type: 'count', size: 10 } } },
      'failureRate.minimumCalls',
    ],
    [
      { failureRate: { threshold: 0.5, minimumCalls: 1, window: { type: 'time', durationMs: 0 } } },
      'failureRate.window.durationMs',
    ],
  ] as Array<[Partial<CircuitBreakerOptions>, string]>)(
    'rejects %j naming %s',
    (options, option) => {
      expect(() => setup(options)).toThrow(BreakerConfigError);
      expect(() => setup(options)).toThrow(option);
    },
  );
});

describe('state transitions (plan: TestCircuitBreakerStates)', () => {
  it('starts closed and lets calls through', async () => {
    const { breaker } = setup();
    expect(breaker.state).toBe(CircuitState.Closed);
    await expect(breaker.execute(ok)).resolves.toBe('ok');
  });

  it('opens after the failure threshold', async () => {
    const { breaker, events } = setup({ failureThreshold: 3 });
    await failTimes(breaker, 2);
    expect(breaker.state).toBe('closed');
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
    expect(events.map((e) => [e.from, e.to, e.reason])).toEqual([
      ['closed', 'open', 'failure_threshold'],
    ]);
    expect(breaker.tryAcquire()).toBeUndefined();
  });

  it('moves to half-open after the recovery timeout, on the next call', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, recoveryTimeout: 1_000 });
    await failTimes(breaker, 1);
    clock.advance(999);
    expect(breaker.tryAcquire()).toBeUndefined();
    clock.advance(1);
    expect(breaker.state).toBe('open'); // nothing moves without a call
    const permit = breaker.tryAcquire();
    expect(permit).toBeDefined();
    expect(breaker.state).toBe('half_open');
  });

  it('closes after a successful probe', async () => {
    const { breaker, clock, events } = setup({ failureThreshold: 1, recoveryTimeout: 0 });
    await failTimes(breaker, 1);
    clock.advance(0);
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    expect(breaker.state).toBe('closed');
    expect(events.map((e) => e.to)).toEqual(['open', 'half_open', 'closed']);
  });

  it('reopens after a failed probe', async () => {
    const { breaker, clock, events } = setup({ failureThreshold: 1, recoveryTimeout: 100 });
    await failTimes(breaker, 1);
    clock.advance(100);
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
    expect(events.at(-1)?.reason).toBe('probe_failure');
    expect(breaker.tryAcquire()).toBeUndefined();
  });

  it('admits exactly halfOpenMaxCalls probes', async () => {
    const { breaker, clock } = setup({
      failureThreshold: 1,
      recoveryTimeout: 10,
      halfOpenMaxCalls: 2,
    });
    await failTimes(breaker, 1);
    clock.advance(10);
    const first = breaker.tryAcquire();
    const second = breaker.tryAcquire();
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    expect(breaker.tryAcquire()).toBeUndefined();
    first!.success();
    expect(breaker.state).toBe('half_open'); // needs both probes to succeed
    second!.success();
    expect(breaker.state).toBe('closed');
  });
});

describe('metrics (plan: TestCircuitBreakerMetrics)', () => {
  it('reports the snapshot fields', async () => {
    const { breaker } = setup({ failureThreshold: 5, recoveryTimeout: 30_000 });
    await breaker.execute(ok);
    await failTimes(breaker, 1);
    const m = breaker.metrics();
    expect(m.service).toBe('test');
    expect(m.state).toBe('closed');
    expect(m.failure_count).toBe(1);
    expect(m.success_count).toBe(1);
    expect(m.last_failure_time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(m.state_changed_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(m.config.failure_threshold).toBe(5);
    expect(m.config.recovery_timeout).toBe(30);
    expect(m.calls).toEqual({ success: 1, failure: 1, rejected: 0, ignored: 0 });
  });

  it('renders timestamps from the monotonic clock against the wall clock', async () => {
    const clock = new FakeClock(0);
    const breaker = new CircuitBreaker({
      name: 'ts',
      registry: null,
      clock,
      scheduler: clock,
      wallClock: () => Date.UTC(2030, 0, 1, 0, 0, 10),
      failureThreshold: 1,
    });
    clock.advance(4_000);
    await failTimes(breaker, 1);
    clock.advance(6_000);
    const m = breaker.metrics();
    expect(m.last_failure_time).toBe('2030-01-01T00:00:04.000Z');
    expect(m.state_changed_at).toBe('2030-01-01T00:00:04.000Z');
    expect(m.retry_after_seconds).toBe(24);
    expect(m.time_in_state_seconds).toBe(6);
  });

  it('reset clears state and the counts', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    await breaker.execute(ok);
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
    breaker.reset();
    const m = breaker.metrics();
    expect(m.state).toBe('closed');
    expect(m.failure_count).toBe(0);
    expect(m.success_count).toBe(0);
    expect(m.last_failure_time).toBeNull();
    expect(breaker.tryAcquire()).toBeDefined();
    // lifetime counts back monotonic counters and survive a reset
    expect(m.calls.success).toBe(1);
  });
});

describe('execute and protect (plan: TestCircuitBreakerDecorator)', () => {
  it('lets calls through when closed', async () => {
    const { breaker } = setup();
    const protectedCall = breaker.protect(async (x: number) => x * 2);
    await expect(protectedCall(21)).resolves.toBe(42);
  });

  it('blocks calls when open, with a CircuitOpenError carrying name, state and retry-after', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, recoveryTimeout: 5_000 });
    await failTimes(breaker, 1);
    clock.advance(1_000);
    let ran = false;
    const error = await breaker
      .execute(() => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(error).toBeInstanceOf(CircuitOpenError);
    const open = error as CircuitOpenError;
    expect(open.breakerName).toBe('test');
    expect(open.state).toBe('open');
    expect(open.retryAfterMs).toBe(4_000);
    expect(open.retryAfterSeconds).toBe(4);
    expect(open.stack).not.toContain('circuit-breaker'); // no captured frames
  });

  it('records success', async () => {
    const { breaker } = setup();
    await breaker.protect(ok)();
    expect(breaker.metrics().success_count).toBe(1);
  });

  it('records failure and passes the error through', async () => {
    const { breaker } = setup({ failureThreshold: 3 });
    await expect(breaker.protect(fail)()).rejects.toBe(boom);
    expect(breaker.metrics().failure_count).toBe(1);
    expect(breaker.state).toBe('closed');
  });

  it('opens after the threshold and then blocks', async () => {
    const { breaker } = setup({ failureThreshold: 2 });
    const call = breaker.protect(fail);
    await expect(call()).rejects.toBe(boom);
    await expect(call()).rejects.toBe(boom);
    expect(breaker.state).toBe('open');
    await expect(call()).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it('never throws synchronously when open, so .catch chains work', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    await failTimes(breaker, 1);
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = breaker.execute(ok);
    }).not.toThrow();
    await expect(promise).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it('handles synchronous functions: a return is a success, a throw a failure', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    await expect(breaker.execute(() => 7)).resolves.toBe(7);
    const error = new Error('sync');
    await expect(
      breaker.execute(() => {
        throw error;
      }),
    ).rejects.toBe(error);
    expect(breaker.state).toBe('open');
  });

  it('accepts any thenable', async () => {
    const { breaker } = setup();
    const thenable: PromiseLike<number> = {
      then: (resolve) => Promise.resolve(resolve?.(5)) as never,
    };
    await expect(breaker.execute(() => thenable)).resolves.toBe(5);
  });
});

describe('defects of the original Python design, fixed', () => {
  it('a success in CLOSED resets the consecutive-failure count', async () => {
    // Plan logic: lifetime failures, so 4 + 4 failures with a success between would open at 5.
    const { breaker } = setup({ failureThreshold: 5 });
    await failTimes(breaker, 4);
    await breaker.execute(ok);
    await failTimes(breaker, 4);
    expect(breaker.state).toBe('closed');
    expect(breaker.metrics().failure_count).toBe(4);
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
  });

  it('the OPEN to HALF_OPEN call is itself a probe: N=1 lets exactly one through', async () => {
    const { breaker, clock } = setup({
      failureThreshold: 1,
      recoveryTimeout: 100,
      halfOpenMaxCalls: 1,
    });
    await failTimes(breaker, 1);
    clock.advance(100);
    expect(breaker.tryAcquire()).toBeDefined();
    expect(breaker.tryAcquire()).toBeUndefined(); // a probe counted apart from halfOpenMaxCalls would let a second one in
  });

  it('a probe whose outcome is never reported does not wedge HALF_OPEN', async () => {
    const { breaker, clock, events } = setup({
      failureThreshold: 1,
      recoveryTimeout: 100,
      halfOpenMaxWait: 5_000,
    });
    await failTimes(breaker, 1);
    clock.advance(100);
    expect(breaker.tryAcquire()).toBeDefined(); // dropped: never settled
    expect(breaker.tryAcquire()).toBeUndefined();
    clock.advance(5_000);
    expect(breaker.state).toBe('open');
    expect(events.at(-1)?.reason).toBe('half_open_timeout');
    clock.advance(100);
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('without a scheduler, an expired HALF_OPEN is noticed on the next call, never on a read', async () => {
    let now = 0;
    const breaker = new CircuitBreaker({
      name: 'poll',
      registry: null,
      clock: { now: () => now },
      failureThreshold: 1,
      recoveryTimeout: 100,
      halfOpenMaxWait: 1_000,
    });
    await failTimes(breaker, 1);
    now = 100;
    expect(breaker.tryAcquire()).toBeDefined();
    now = 1_100;
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.state).toBe('open');
    now = 1_200;
    expect(breaker.tryAcquire()).toBeDefined();
    expect(breaker.state).toBe('half_open');
    now = 2_300;
    expect(breaker.state).toBe('half_open'); // reading changes nothing
    expect(breaker.metrics().state).toBe('half_open');
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.state).toBe('open');
  });

  it('times with the monotonic clock: a wall-clock jump changes nothing', async () => {
    let wall = Date.UTC(2030, 0, 1);
    const clock = new FakeClock();
    const breaker = new CircuitBreaker({
      name: 'mono',
      registry: null,
      clock,
      scheduler: clock,
      wallClock: () => wall,
      failureThreshold: 1,
      recoveryTimeout: 30_000,
    });
    await failTimes(breaker, 1);
    wall += 3_600_000; // NTP moves the wall clock an hour ahead
    expect(breaker.tryAcquire()).toBeUndefined();
    wall -= 7_200_000; // and two hours back
    clock.advance(30_000);
    expect(breaker.tryAcquire()).toBeDefined();
  });

  it('critical circuits are matched by the breaker real name', async () => {
    const registry = new BreakerRegistry();
    const clock = new FakeClock();
    const embedding = new CircuitBreaker({
      name: 'embedding_service',
      critical: true,
      failureThreshold: 1,
      registry,
      clock,
      scheduler: clock,
    });
    const redis = new CircuitBreaker({
      name: 'redis_cache',
      failureThreshold: 1,
      registry,
      clock,
      scheduler: clock,
    });
    await failTimes(embedding, 1);
    await failTimes(redis, 1);
    // matching by a short name (`name in ["embedding"]`), which never matches "embedding_service"
    expect(registry.criticalOpen()).toEqual(['embedding_service']);
  });

  it('a late failure from a call admitted before the circuit opened does not extend OPEN', async () => {
    const { breaker, clock } = setup({ failureThreshold: 2, recoveryTimeout: 1_000 });
    let failSlow!: (e: Error) => void;
    const slow = breaker.execute(() => new Promise<never>((_, reject) => (failSlow = reject)));
    await failTimes(breaker, 2);
    expect(breaker.state).toBe('open');
    clock.advance(900);
    failSlow(boom);
    await expect(slow).rejects.toBe(boom);
    expect(breaker.metrics().calls.failure).toBe(3); // counted...
    clock.advance(100);
    expect(breaker.tryAcquire()).toBeDefined(); // ...but the open period still ends on time
  });

  it('a late success from before the outage cannot close a half-open circuit', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, recoveryTimeout: 100 });
    let finish!: (v: string) => void;
    const slow = breaker.execute(() => new Promise<string>((resolve) => (finish = resolve)));
    await failTimes(breaker, 1);
    clock.advance(100);
    const probe = breaker.tryAcquire();
    expect(breaker.state).toBe('half_open');
    finish('late');
    await slow;
    expect(breaker.state).toBe('half_open');
    probe!.failure(boom);
    expect(breaker.state).toBe('open');
  });
});

describe('failure-rate policy', () => {
  it('count window: opens at the rate once minimumCalls are seen', async () => {
    const { breaker } = setup({
      failureRate: { threshold: 0.5, minimumCalls: 4, window: { type: 'count', size: 4 } },
    });
    await breaker.execute(ok);
    await failTimes(breaker, 1);
    await breaker.execute(ok);
    expect(breaker.state).toBe('closed'); // 1/3, under minimum calls
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open'); // 2/4
    expect(breaker.metrics().config.failure_threshold).toBeNull();
  });

  it('count window: old outcomes slide out', async () => {
    const { breaker } = setup({
      failureRate: { threshold: 0.75, minimumCalls: 4, window: { type: 'count', size: 4 } },
    });
    await failTimes(breaker, 2);
    for (let i = 0; i < 4; i++) await breaker.execute(ok);
    await failTimes(breaker, 2); // window: ok ok F F = 0.5
    expect(breaker.state).toBe('closed');
    expect(breaker.metrics().failure_rate).toEqual({ rate: 0.5, calls: 4, failures: 2 });
    await failTimes(breaker, 1); // ok F F F = 0.75
    expect(breaker.state).toBe('open');
  });

  it('time window: forgets calls older than the window', async () => {
    const { breaker, clock } = setup({
      failureRate: {
        threshold: 0.5,
        minimumCalls: 3,
        window: { type: 'time', durationMs: 10_000, buckets: 10 },
      },
    });
    await failTimes(breaker, 2);
    clock.advance(10_000);
    await breaker.execute(ok);
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('closed'); // the first two fell out: 1/2 < minimum
    expect(breaker.metrics().failure_rate?.calls).toBe(2);
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
    expect(breaker.metrics().failure_rate).toMatchObject({ calls: 3, failures: 2 });
  });

  it('both policies: either may open, with its own reason', async () => {
    const { breaker, events } = setup({
      failureThreshold: 3,
      failureRate: { threshold: 0.9, minimumCalls: 100, window: { type: 'count', size: 100 } },
    });
    await failTimes(breaker, 3);
    expect(events[0]?.reason).toBe('failure_threshold');
    const rate = setup({
      failureThreshold: 50,
      failureRate: { threshold: 0.5, minimumCalls: 2, window: { type: 'count', size: 2 } },
    });
    await rate.breaker.execute(ok);
    await failTimes(rate.breaker, 1);
    expect(rate.events[0]?.reason).toBe('failure_rate');
  });
});

describe('recovery backoff', () => {
  it('grows the recovery timeout on repeated opens, capped, and resets on close', async () => {
    const { breaker, clock } = setup({
      failureThreshold: 1,
      recoveryTimeout: 1_000,
      backoff: { multiplier: 2, maxRecoveryTimeout: 3_000 },
    });
    const retryAfter = (): number | null => breaker.metrics().retry_after_seconds;
    await failTimes(breaker, 1);
    expect(retryAfter()).toBe(1);
    clock.advance(1_000);
    await failTimes(breaker, 1); // the probe fails
    expect(retryAfter()).toBe(2);
    clock.advance(1_999);
    expect(breaker.tryAcquire()).toBeUndefined();
    clock.advance(1);
    await failTimes(breaker, 1);
    expect(retryAfter()).toBe(3); // 4 s, capped at 3 s
    clock.advance(3_000);
    await breaker.execute(ok); // closes, which resets the backoff
    await failTimes(breaker, 1);
    expect(retryAfter()).toBe(1);
  });

  it('a half-open timeout counts as a failed probe for backoff', async () => {
    const { breaker, clock } = setup({
      failureThreshold: 1,
      recoveryTimeout: 1_000,
      halfOpenMaxWait: 500,
      backoff: { maxRecoveryTimeout: 10_000 },
    });
    await failTimes(breaker, 1);
    clock.advance(1_000);
    breaker.tryAcquire(); // dropped
    clock.advance(500);
    expect(breaker.state).toBe('open');
    expect(retryAfterOf(breaker)).toBe(2);
  });
});

function retryAfterOf(breaker: CircuitBreaker): number | null {
  return breaker.metrics().retry_after_seconds;
}

describe('call timeout', () => {
  it('aborts the call signal, rejects with CallTimeoutError and counts a failure', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, callTimeout: 500 });
    let signal: AbortSignal | undefined;
    const call = breaker.execute(({ signal: s }) => {
      signal = s;
      return new Promise<string>(() => undefined); // never settles on its own
    });
    clock.advance(499);
    expect(signal?.aborted).toBe(false);
    clock.advance(1);
    await expect(call).rejects.toBeInstanceOf(CallTimeoutError);
    expect(signal?.aborted).toBe(true);
    expect(breaker.state).toBe('open');
    expect(breaker.metrics().timeouts).toBe(1);
  });

  it('uses one timer for many calls, and fast calls are unaffected', async () => {
    const { breaker, clock } = setup({ failureThreshold: 100, callTimeout: 1_000 });
    const results = await Promise.all(Array.from({ length: 50 }, () => breaker.execute(ok)));
    expect(results).toHaveLength(50);
    expect(clock.pendingTimers).toBeLessThanOrEqual(1);
    clock.advance(1_000);
    expect(clock.pendingTimers).toBe(0);
    expect(breaker.metrics().calls.failure).toBe(0);
  });

  it('times out slow calls in order, each at its own deadline', async () => {
    const { breaker, clock } = setup({ failureThreshold: 100, callTimeout: 100 });
    const hang = () => new Promise<never>(() => undefined);
    const first = breaker.execute(hang).catch((e: unknown) => e);
    clock.advance(50);
    const second = breaker.execute(hang).catch((e: unknown) => e);
    clock.advance(50);
    expect(await first).toBeInstanceOf(CallTimeoutError);
    expect(breaker.metrics().timeouts).toBe(1);
    clock.advance(50);
    expect(await second).toBeInstanceOf(CallTimeoutError);
    expect(breaker.metrics().timeouts).toBe(2);
  });

  it('settles sync results and sync throws under a timeout too', async () => {
    const { breaker } = setup({ failureThreshold: 1, callTimeout: 100 });
    await expect(breaker.execute(() => 1)).resolves.toBe(1);
    await expect(
      breaker.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(breaker.state).toBe('open');
  });

  it('a call the caller aborted is ignored, not a dependency failure', async () => {
    const { breaker } = setup({ failureThreshold: 1, callTimeout: 1_000 });
    const controller = new AbortController();
    const call = breaker.execute(
      ({ signal }) =>
        new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason)),
        ),
      controller.signal,
    );
    controller.abort(new Error('client went away'));
    await expect(call).rejects.toThrow('client went away');
    expect(breaker.state).toBe('closed');
    expect(breaker.metrics().calls.ignored).toBe(1);
  });

  it('passes the caller signal through when there is no timeout', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const controller = new AbortController();
    controller.abort();
    await expect(
      breaker.execute(
        ({ signal }) => (signal.aborted ? Promise.reject(new Error('aborted')) : ok()),
        controller.signal,
      ),
    ).rejects.toThrow('aborted');
    expect(breaker.metrics().calls.ignored).toBe(1);
  });
});

describe('error filter', () => {
  class NotFound extends Error {}
  it('filtered errors are ignored: neither success nor failure', async () => {
    const { breaker } = setup({ failureThreshold: 1, isFailure: (e) => !(e instanceof NotFound) });
    await expect(breaker.execute(() => Promise.reject(new NotFound()))).rejects.toBeInstanceOf(
      NotFound,
    );
    expect(breaker.state).toBe('closed');
    expect(breaker.metrics().calls).toMatchObject({ ignored: 1, failure: 0, success: 0 });
  });

  it('an ignored probe frees its slot for the next call', async () => {
    const { breaker, clock } = setup({
      failureThreshold: 1,
      recoveryTimeout: 10,
      isFailure: (e) => e === boom,
    });
    await failTimes(breaker, 1);
    clock.advance(10);
    await breaker.execute(() => Promise.reject(new Error('404'))).catch(() => undefined);
    expect(breaker.state).toBe('half_open');
    await breaker.execute(ok);
    expect(breaker.state).toBe('closed');
  });

  it('a filter that throws counts the error as a failure', async () => {
    const { breaker } = setup({
      failureThreshold: 1,
      isFailure: () => {
        throw new Error('bad filter');
      },
    });
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
  });
});

describe('manual permits', () => {
  it('settles exactly once', async () => {
    const { breaker } = setup({ failureThreshold: 2 });
    const permit = breaker.tryAcquire()!;
    expect(permit.failure(boom)).toBe(true);
    expect(permit.failure(boom)).toBe(false);
    expect(permit.success()).toBe(false);
    expect(permit.ignore()).toBe(false);
    expect(breaker.metrics().calls).toMatchObject({ failure: 1, success: 0 });
    const other = breaker.tryAcquire()!;
    expect(other.ignore()).toBe(true);
    expect(breaker.metrics().calls.ignored).toBe(1);
  });

  it('counts a refused permit as rejected', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    await failTimes(breaker, 1);
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.metrics().calls.rejected).toBe(1);
  });
});

describe('manual control', () => {
  it('isolate forces open until reset, whatever the clock says', async () => {
    const { breaker, clock, events } = setup({ recoveryTimeout: 10 });
    breaker.isolate();
    expect(breaker.state).toBe('open');
    expect(breaker.mode).toBe('isolated');
    clock.advance(1e9);
    const error = (await breaker.execute(ok).catch((e: unknown) => e)) as CircuitOpenError;
    expect(error.retryAfterMs).toBe(Infinity);
    expect(error.retryAfterSeconds).toBeNull();
    expect(breaker.metrics().retry_after_seconds).toBeNull();
    breaker.reset();
    expect(breaker.state).toBe('closed');
    expect(events.map((e) => e.reason)).toEqual(['manual_open', 'manual_reset']);
  });

  it('isolating an already open circuit cancels its recovery', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, recoveryTimeout: 10 });
    await failTimes(breaker, 1);
    breaker.isolate();
    clock.advance(100);
    expect(breaker.tryAcquire()).toBeUndefined();
  });

  it('isolating a half-open circuit does not grow backoff', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, recoveryTimeout: 10 });
    await failTimes(breaker, 1);
    clock.advance(10);
    breaker.tryAcquire();
    breaker.isolate();
    expect(breaker.state).toBe('open');
    expect(breaker.toJSON().reopens).toBe(0);
  });

  it('disable lets everything through and still measures', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    await failTimes(breaker, 1);
    breaker.disable();
    expect(breaker.state).toBe('closed');
    await failTimes(breaker, 5);
    expect(breaker.state).toBe('closed');
    expect(breaker.mode).toBe('disabled');
    expect(breaker.metrics().calls.failure).toBe(6);
    breaker.reset();
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
  });

  it('disabling a closed circuit changes no state', () => {
    const { breaker, events } = setup();
    breaker.disable();
    expect(events).toEqual([]);
  });
});

describe('state export and restore', () => {
  it('round-trips an open circuit with its remaining time', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, recoveryTimeout: 1_000 });
    await failTimes(breaker, 1);
    clock.advance(400);
    const saved = JSON.parse(JSON.stringify(breaker));
    expect(saved).toMatchObject({ version: 2, state: 'open', openRemainingMs: 600 });
    const restored = setup({ failureThreshold: 1, recoveryTimeout: 1_000, initialState: saved });
    expect(restored.breaker.state).toBe('open');
    restored.clock.advance(599);
    expect(restored.breaker.tryAcquire()).toBeUndefined();
    restored.clock.advance(1);
    expect(restored.breaker.tryAcquire()).toBeDefined();
  });

  it('restores a closed streak, an isolated mode and a half-open as a due probe', async () => {
    const { breaker } = setup({ failureThreshold: 3 });
    await failTimes(breaker, 2);
    const closed = setup({ failureThreshold: 3, initialState: breaker.toJSON() });
    await failTimes(closed.breaker, 1);
    expect(closed.breaker.state).toBe('open');

    const isolated = setup({ initialState: { ...breaker.toJSON(), mode: 'isolated' } });
    expect(isolated.breaker.state).toBe('open');
    expect(isolated.breaker.mode).toBe('isolated');

    const disabled = setup({ initialState: { ...breaker.toJSON(), mode: 'disabled' } });
    expect(disabled.breaker.mode).toBe('disabled');

    const halfOpen = setup({ initialState: { ...breaker.toJSON(), state: 'half_open' } });
    expect(halfOpen.breaker.state).toBe('open');
    expect(halfOpen.breaker.tryAcquire()).toBeDefined();
    expect(halfOpen.breaker.state).toBe('half_open');
  });
});

describe('events and registry', () => {
  it('state-change listeners can be disposed', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const seen: string[] = [];
    const subscription = breaker.onStateChange((e) => seen.push(e.to));
    subscription.dispose();
    subscription.dispose();
    await failTimes(breaker, 1);
    expect(seen).toEqual([]);
  });

  it('a throwing listener does not break the call path', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    breaker.onStateChange(() => {
      throw new Error('listener bug');
    });
    const errors: unknown[] = [];
    const onError = (e: unknown): void => {
      errors.push(e);
    };
    process.on('uncaughtException', onError);
    try {
      await failTimes(breaker, 1);
      await new Promise((r) => setTimeout(r, 0));
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(breaker.state).toBe('open');
    expect(errors).toHaveLength(1);
  });

  it('fires rejection and failure events', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    let rejections = 0;
    const failures: unknown[] = [];
    breaker.onRejected(() => rejections++);
    breaker.onFailure((e) => failures.push(e.error));
    await failTimes(breaker, 1);
    await breaker.execute(ok).catch(() => undefined);
    breaker.tryAcquire();
    expect(rejections).toBe(2);
    expect(failures).toEqual([boom]);
  });

  it('a duplicate name is an error, not a silent overwrite', () => {
    const registry = new BreakerRegistry();
    const first = new CircuitBreaker({ name: 'redis_cache', registry });
    expect(() => new CircuitBreaker({ name: 'redis_cache', registry })).toThrow(
      DuplicateBreakerError,
    );
    expect(registry.get('redis_cache')).toBe(first);
    registry.register(first); // re-registering the same breaker is harmless
    first.dispose();
    expect(registry.size).toBe(0);
    const second = new CircuitBreaker({ name: 'redis_cache', registry });
    expect(registry.list()).toEqual([second]);
    expect(Object.keys(registry.snapshot())).toEqual(['redis_cache']);
    registry.unregister(first); // not the registered one: no effect
    expect(registry.size).toBe(1);
    second.dispose();
  });

  it('breakers join the default registry unless told otherwise', async () => {
    const { defaultRegistry } = await import('./registry.js');
    const breaker = new CircuitBreaker({ name: 'default-registry-test' });
    expect(defaultRegistry.get('default-registry-test')).toBe(breaker);
    breaker.dispose();
    expect(defaultRegistry.get('default-registry-test')).toBeUndefined();
  });

  it('after dispose, calls still work and no timer is armed', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, callTimeout: 100 });
    breaker.dispose();
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
    expect(clock.pendingTimers).toBe(0);
  });
});
