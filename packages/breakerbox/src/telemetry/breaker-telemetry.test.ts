import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  MetricReader,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BreakerDurationProducer } from '../sdk/breaker-duration-producer.js';
import { BreakerRegistry, CircuitBreaker, CircuitOpenError, FakeClock } from '../breaker/index.js';
import { BreakerTelemetry, type BreakerLogger } from './index.js';

/** An in-memory metric reader: collect() on demand, nothing exported anywhere. */
class InMemoryReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  contextManager.disable();
  context.disable();
});

function setup(summaryIntervalMs = 60_000) {
  const clock = new FakeClock(0);
  const registry = new BreakerRegistry();
  const reader = new InMemoryReader({ metricProducers: [new BreakerDurationProducer(registry)] });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(spans)],
  });
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  const logger: BreakerLogger = {
    info: (fields, message) => lines.push({ level: 'info', fields, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields, message }),
  };
  const telemetry = new BreakerTelemetry({
    registry,
    meterProvider,
    tracerProvider,
    logger,
    clock,
    summaryIntervalMs,
  });
  const tracer = tracerProvider.getTracer('test');
  const breaker = (name: string, critical = false) =>
    new CircuitBreaker({
      name,
      registry,
      clock,
      scheduler: clock,
      failureThreshold: 2,
      recoveryTimeout: 1_000,
      critical,
    });
  const collect = async (): Promise<Map<string, MetricData>> => {
    const { resourceMetrics } = await reader.collect();
    const byName = new Map<string, MetricData>();
    for (const scope of resourceMetrics.scopeMetrics)
      for (const m of scope.metrics) byName.set(m.descriptor.name, m);
    return byName;
  };
  return { clock, registry, telemetry, spans, lines, tracer, breaker, collect, meterProvider };
}

const series = (metric: MetricData | undefined): Array<[Record<string, unknown>, unknown]> =>
  (metric?.dataPoints ?? []).map(
    (p) => [p.attributes, p.value] as [Record<string, unknown>, unknown],
  );

const fail = () => Promise.reject(new Error('down'));
const ok = () => Promise.resolve('ok');

describe('telemetry with the real OpenTelemetry SDK', () => {
  it('exports the exact contract series after a scripted outage and recovery', async () => {
    const t = setup();
    const redis = t.breaker('redis_cache');
    t.breaker('embedding_service', true);
    for (let i = 0; i < 3; i++) await redis.execute(ok);
    for (let i = 0; i < 2; i++) await redis.execute(fail).catch(() => undefined);
    for (let i = 0; i < 3; i++) await redis.execute(ok).catch(() => undefined);
    t.clock.advance(1_000);
    await redis.execute(ok);

    const metrics = await t.collect();
    expect(series(metrics.get('circuit_breaker.state'))).toEqual([
      [{ 'circuit_breaker.name': 'redis_cache', state: 'closed', critical: 'false' }, 1],
      [{ 'circuit_breaker.name': 'redis_cache', state: 'open', critical: 'false' }, 0],
      [{ 'circuit_breaker.name': 'redis_cache', state: 'half_open', critical: 'false' }, 0],
      [{ 'circuit_breaker.name': 'embedding_service', state: 'closed', critical: 'true' }, 1],
      [{ 'circuit_breaker.name': 'embedding_service', state: 'open', critical: 'true' }, 0],
      [{ 'circuit_breaker.name': 'embedding_service', state: 'half_open', critical: 'true' }, 0],
    ]);
    // Every pair is exported, zeros included, so increase() sees a first transition.
    expect(
      series(metrics.get('circuit_breaker.transitions')).filter(
        ([a]) => a['circuit_breaker.name'] === 'redis_cache',
      ),
    ).toEqual([
      [{ 'circuit_breaker.name': 'redis_cache', from_state: 'closed', to_state: 'open' }, 1],
      [{ 'circuit_breaker.name': 'redis_cache', from_state: 'open', to_state: 'closed' }, 0],
      [{ 'circuit_breaker.name': 'redis_cache', from_state: 'open', to_state: 'half_open' }, 1],
      [{ 'circuit_breaker.name': 'redis_cache', from_state: 'half_open', to_state: 'closed' }, 1],
      [{ 'circuit_breaker.name': 'redis_cache', from_state: 'half_open', to_state: 'open' }, 0],
    ]);
    const calls = series(metrics.get('circuit_breaker.calls')).filter(
      ([a]) => a['circuit_breaker.name'] === 'redis_cache',
    );
    expect(calls).toEqual([
      [{ 'circuit_breaker.name': 'redis_cache', outcome: 'success' }, 4],
      [{ 'circuit_breaker.name': 'redis_cache', outcome: 'failure' }, 2],
      [{ 'circuit_breaker.name': 'redis_cache', outcome: 'rejected' }, 3],
      [{ 'circuit_breaker.name': 'redis_cache', outcome: 'ignored' }, 0],
    ]);
    const logEvents = series(metrics.get('circuit_breaker.log_events')).filter(
      ([a]) => a['circuit_breaker.name'] === 'redis_cache',
    );
    expect(logEvents).toEqual([
      [{ 'circuit_breaker.name': 'redis_cache', disposition: 'emitted' }, 3],
      [{ 'circuit_breaker.name': 'redis_cache', disposition: 'suppressed' }, 5],
    ]);

    const duration = metrics.get('circuit_breaker.call.duration')!;
    expect(duration.descriptor.unit).toBe('s');
    expect(duration.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(duration.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
    const points = duration.dataPoints as Array<DataPoint<Histogram>>;
    const rejected = points.find(
      (p) =>
        p.attributes['circuit_breaker.name'] === 'redis_cache' &&
        p.attributes.outcome === 'rejected',
    )!;
    expect(rejected.value.count).toBe(3);
    expect(rejected.value.buckets.boundaries[0]).toBe(0.000001); // resolves microseconds
    expect(rejected.value.buckets.counts.reduce((a, b) => a + b, 0)).toBe(3);
    const counts = Object.fromEntries(
      points
        .filter((p) => p.attributes['circuit_breaker.name'] === 'redis_cache')
        .map((p) => [p.attributes.outcome, p.value.count]),
    );
    expect(counts).toEqual({ success: 4, failure: 2, rejected: 3, ignored: 0 });
  });

  it('adds exactly one span event per transition: on the active span, else on its own span', async () => {
    const t = setup();
    const redis = t.breaker('redis_cache');
    await redis.execute(fail).catch(() => undefined);
    await t.tracer.startActiveSpan('GET /v1/cache/k', async (span) => {
      await redis.execute(fail).catch(() => undefined); // opens inside a request span
      const rejected = await redis.execute(ok).catch((e: unknown) => e);
      expect(rejected).toBeInstanceOf(CircuitOpenError);
      span.end();
    });
    t.clock.advance(1_000); // nothing happens without a call
    await redis.execute(ok); // half_open and closed, outside any span

    const spans = t.spans.getFinishedSpans();
    const request = spans.find((s) => s.name === 'GET /v1/cache/k')!;
    expect(request.events.map((e) => e.name)).toEqual([
      'circuit_breaker.state_change',
      'circuit_breaker.rejected',
    ]);
    expect(request.events[0]!.attributes).toEqual({
      'circuit_breaker.name': 'redis_cache',
      'circuit_breaker.state.previous': 'closed',
      'circuit_breaker.state': 'open',
      'circuit_breaker.failure_count': 2,
      'circuit_breaker.transition.reason': 'failure_threshold',
      'error.type': 'Error',
    });
    expect(request.events[1]!.attributes).toEqual({
      'circuit_breaker.name': 'redis_cache',
      'circuit_breaker.state': 'open',
    });
    const own = spans.filter((s) => s.name === 'circuit_breaker.state_change');
    expect(own.map((s) => s.events.map((e) => e.attributes?.['circuit_breaker.state']))).toEqual([
      ['half_open'],
      ['closed'],
    ]);
    const allStateEvents = spans
      .flatMap((s) => s.events)
      .filter((e) => e.name === 'circuit_breaker.state_change');
    expect(allStateEvents).toHaveLength(3);
  });

  it('a flapping outage logs each state change once and each failure never', async () => {
    const t = setup(60_000);
    const redis = t.breaker('redis_cache');
    for (let i = 0; i < 10_000; i++) {
      await redis.execute(fail).catch(() => undefined);
      t.clock.advance(20); // 200 s of outage: a probe fails after every recovery timeout
    }
    const metrics = await t.collect();
    const [emitted, suppressed] = series(metrics.get('circuit_breaker.log_events')).map(
      ([, v]) => v as number,
    );
    const stateLines = t.lines.filter((l) => l.fields.event === 'circuit_breaker.state_change');
    const transitions = redis.transitions().reduce((n, x) => n + x.count, 0);
    expect(stateLines).toHaveLength(transitions);
    expect(t.lines.length - stateLines.length).toBe(0); // transitions every second: no summary due
    expect(emitted).toBe(t.lines.length);
    expect(suppressed).toBe(10_000);
  });

  it('a long outage (one open period) logs a handful of lines for 10,000 rejections', async () => {
    const t = setup(60_000);
    const breaker = new CircuitBreaker({
      name: 'embedding_service',
      registry: t.registry,
      clock: t.clock,
      scheduler: t.clock,
      failureThreshold: 3,
      recoveryTimeout: 120_000,
    });
    for (let i = 0; i < 10_000; i++) {
      await breaker.execute(fail).catch(() => undefined);
      t.clock.advance(10); // 100 s: one open period
    }
    const metrics = await t.collect();
    const [emitted, suppressed] = series(metrics.get('circuit_breaker.log_events')).map(
      ([, v]) => v as number,
    );
    expect(t.lines.length).toBeLessThanOrEqual(5);
    expect(emitted).toBe(t.lines.length);
    expect(suppressed).toBe(10_000);
    expect(suppressed! / (suppressed! + emitted!)).toBeGreaterThanOrEqual(0.999);
    expect(t.lines[0]).toMatchObject({
      level: 'warn',
      fields: {
        event: 'circuit_breaker.state_change',
        from: 'closed',
        to: 'open',
        'circuit_breaker.name': 'embedding_service',
      },
    });
    expect(t.lines[1]).toMatchObject({
      fields: { event: 'circuit_breaker.summary', state: 'open' },
    });
  });

  it('follows breakers added and removed after it started, and disposes cleanly', async () => {
    const t = setup();
    const late = t.breaker('late');
    await late.execute(fail).catch(() => undefined);
    await late.execute(fail).catch(() => undefined);
    expect(t.lines).toHaveLength(1);
    expect(t.telemetry.logCounts(late)).toEqual({ emitted: 1, suppressed: 2 });
    late.dispose();
    expect(t.telemetry.logCounts(late)).toEqual({ emitted: 0, suppressed: 0 });
    const metrics = await t.collect();
    expect(series(metrics.get('circuit_breaker.state'))).toEqual([]);
    const other = t.breaker('other');
    t.telemetry.dispose();
    await other.execute(fail).catch(() => undefined);
    await other.execute(fail).catch(() => undefined);
    expect(t.lines).toHaveLength(1); // no longer observed
    expect((await t.collect()).get('circuit_breaker.state')).toBeUndefined();
  });

  it('costs nothing but no-op calls without an SDK', async () => {
    const registry = new BreakerRegistry();
    const telemetry = new BreakerTelemetry({ registry });
    const breaker = new CircuitBreaker({ name: 'bare', registry, failureThreshold: 1 });
    await breaker.execute(fail).catch(() => undefined);
    await expect(breaker.execute(ok)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(trace.getActiveSpan()).toBeUndefined();
    telemetry.dispose();
    breaker.dispose();
  });
});

describe('summary lines', () => {
  it('without a scheduler, a bare clock is read on suppressed events instead', async () => {
    let now = 0;
    const registry = new BreakerRegistry();
    const lines: string[] = [];
    const logger: BreakerLogger = {
      info: (f) => lines.push(String(f.event)),
      warn: (f) => lines.push(String(f.event)),
    };
    const telemetry = new BreakerTelemetry({
      registry,
      logger,
      clock: { now: () => now },
      summaryIntervalMs: 1_000,
    });
    const breaker = new CircuitBreaker({
      name: 'bare-clock',
      registry,
      clock: { now: () => now },
      failureThreshold: 1,
      recoveryTimeout: 60_000,
    });
    await breaker.execute(fail).catch(() => undefined);
    for (let i = 0; i < 30; i++) {
      now += 100;
      await breaker.execute(ok).catch(() => undefined);
    }
    expect(lines).toEqual([
      'circuit_breaker.state_change',
      'circuit_breaker.summary',
      'circuit_breaker.summary',
      'circuit_breaker.summary',
    ]);
    telemetry.dispose();
    breaker.dispose();
  });

  it('with a scheduler, no summary is due while closed and the timer is dropped on close', async () => {
    const t = setup(1_000);
    const redis = t.breaker('redis_cache');
    await redis.execute(fail).catch(() => undefined);
    await redis.execute(fail).catch(() => undefined); // open
    t.clock.advance(1_000); // recovery due and a summary due
    await redis.execute(ok); // probe succeeds: closed
    await redis.execute(fail).catch(() => undefined); // suppressed while closed: no summary
    expect(t.lines.map((l) => l.fields.event)).toEqual([
      'circuit_breaker.state_change',
      'circuit_breaker.state_change',
      'circuit_breaker.state_change',
    ]);
    expect(t.clock.pendingTimers).toBe(0);
    t.telemetry.dispose();
  });
});

describe('issue 13: why it opened, and reads without side effects', () => {
  it('the state-change log line names the error, with its message free of credentials', async () => {
    const t = setup();
    const redis = t.breaker('redis_cache');
    const error = new Error('auth failed for redis://app:s3cret@cache:6379 (password=s3cret)');
    for (let i = 0; i < 2; i++) await redis.execute(() => Promise.reject(error)).catch(() => 0);
    const line = t.lines.find((l) => l.fields.event === 'circuit_breaker.state_change')!;
    expect(line.fields).toMatchObject({ reason: 'failure_threshold', error: 'Error' });
    expect(String(line.fields.error_message)).not.toContain('s3cret');
    expect(line.message).toContain('last failure Error');
    t.telemetry.dispose();
  });

  it('manual modes log a line of their own', () => {
    const t = setup();
    const redis = t.breaker('redis_cache');
    redis.disable();
    redis.reset();
    expect(
      t.lines.filter((l) => l.fields.event === 'circuit_breaker.mode_change').map((l) => l.message),
    ).toEqual([
      'circuit breaker redis_cache: mode normal -> disabled',
      'circuit breaker redis_cache: mode disabled -> normal',
    ]);
    t.telemetry.dispose();
  });

  it('a scrape of an expired HALF_OPEN creates no state_change span and changes nothing', async () => {
    const t = setup();
    let now = 0;
    const polled = new CircuitBreaker({
      name: 'polled',
      registry: t.registry,
      clock: { now: () => now },
      failureThreshold: 1,
      recoveryTimeout: 10,
      halfOpenMaxWait: 10,
    });
    await polled.execute(fail).catch(() => undefined);
    now = 10;
    polled.tryAcquire(); // a probe that never reports
    now = 10_000;
    const before = t.spans.getFinishedSpans().length;
    await t.collect();
    await t.collect();
    expect(t.spans.getFinishedSpans().length).toBe(before);
    expect(polled.state).toBe('half_open');
    t.telemetry.dispose();
  });
});
