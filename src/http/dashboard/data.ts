// The dashboard's data feed: one JSON document per poll, built from the registry, the
// transition history and the telemetry's log counts.
//
// Rates and windowed latencies need two points in time. Instead of a timer, the feed keeps a
// short ring of samples (cumulative call counts and duration histograms per breaker) taken
// lazily when the page polls, at most one every `minSampleIntervalMs`. Nothing runs while
// nobody looks, and there is nothing to stop at shutdown.

import {
  CALL_OUTCOMES,
  histogramQuantile,
  type BreakerRegistry,
  type CallOutcome,
  type CircuitBreaker,
  type CircuitState,
  type BreakerMode,
  type HistogramSnapshot,
} from 'breakerbox';
import type {
  AdminActionRecord,
  LastFailure,
  TransitionHistory,
  TransitionRecord,
} from './transition-history.js';
import type { BreakerTelemetry } from 'breakerbox';
import type { BreakerGroups, ChildInfo, ChildrenSummary } from '../breaker-groups.js';

/** Outcomes whose durations the dashboard compares. */
export const LATENCY_OUTCOMES = ['success', 'rejected', 'failure'] as const;
export type LatencyOutcome = (typeof LATENCY_OUTCOMES)[number];

export type Counts = Record<CallOutcome, number>;

export interface LatencyStats {
  /** Calls measured. */
  count: number;
  /** Seconds; null with no calls. */
  p50: number | null;
  p99: number | null;
  mean: number | null;
}

export interface BreakerView extends Partial<ChildInfo> {
  name: string;
  /**
   * A parent's children by state (a cluster's `redis_cache`: its shard breakers). Children
   * carry `parent`, `shard`, `master` and `slots`, and no rate series (a strip of chips and a
   * table show them, not a tile each).
   */
  shards?: ChildrenSummary;
  state: CircuitState;
  mode: BreakerMode;
  critical: boolean;
  time_in_state_seconds: number;
  retry_after_seconds: number | null;
  state_changed_at: string | null;
  last_failure_time: string | null;
  failure_count: number;
  opened_count: number;
  /** The error that last counted as a failure (`metrics().last_failure`), or null. */
  last_failure: LastFailure | null;
  /** The failure-rate policy's window against its threshold, when one is configured. */
  failure_rate: RateAgainstThreshold | null;
  /** The slow-call policy's window against its threshold, when the engine reports one. */
  slow_call_rate: RateAgainstThreshold | null;
  /** Rejected / all calls over the headline rate's seconds (null until two samples exist). */
  rejection_share: number | null;
  config: {
    failure_threshold: number | null;
    recovery_timeout: number;
    half_open_max_calls: number;
  };
  /** Lifetime counts by outcome. */
  calls: Counts;
  rates: {
    /** Calls per second by outcome over the last `seconds` (null until two samples exist). */
    current: Counts | null;
    seconds: number | null;
    /**
     * One point per sample interval, oldest first: the rate between wall-clock ms `from` and
     * `t`. Where one point's `from` is not the previous point's `t`, nobody was sampling: a gap.
     */
    series: Array<{ from: number; t: number } & Counts>;
  };
  latency: {
    /**
     * 'window': from histogram bucket deltas over the last `seconds` (about the configured
     * window); 'lifetime': the cumulative histograms, until samples cover a whole window.
     */
    basis: 'window' | 'lifetime';
    seconds: number | null;
    window: Record<LatencyOutcome, LatencyStats>;
    lifetime: Record<LatencyOutcome, LatencyStats>;
  };
  log: { emitted: number; suppressed: number; noise_reduction: number | null };
}

export interface RateAgainstThreshold {
  /** 0..1 over the window. */
  rate: number;
  calls: number;
  /** Opens at or above this (0..1). */
  threshold: number;
  minimum_calls: number | null;
  window: string | null;
}

/** One dependency as /health reports it. */
export interface DependencyView {
  status: string;
  reason: string;
}

/**
 * One severity for the whole page, the same rule as /health and /health/ready: `critical`
 * while a critical circuit is open (/health/ready answers 503), `degraded` while any breaker is
 * not closed or a dependency is known to be down, else `healthy`.
 */
export type Severity = 'healthy' | 'degraded' | 'critical';

export interface DashboardData {
  generated_at: string;
  severity: Severity;
  /** What /health says about each dependency. */
  dependencies: Record<string, DependencyView>;
  /** Operator actions through the admin API, oldest first. */
  admin_actions: AdminActionRecord[];
  /** How far back the series and timeline reach, seconds. */
  history_seconds: number;
  /** When this feed started (roughly the service start), ISO. */
  started_at: string;
  critical_open: string[];
  breakers: BreakerView[];
  /** Recent transitions of every breaker, oldest first. */
  transitions: TransitionRecord[];
}

export interface DashboardDataOptions {
  registry: BreakerRegistry;
  history: TransitionHistory;
  telemetry: BreakerTelemetry;
  /** Monotonic ms (default performance.now). */
  clock?: { now(): number };
  /** Wall-clock ms (default Date.now). */
  wallClock?: () => number;
  /** Latency window, seconds (default 60). */
  latencyWindowSeconds?: number;
  /** /health's dependency entries (status and reason), for the page's severity. */
  dependencies?: () => Record<string, unknown>;
  /** Breakers grouped under a parent (a cluster's shard breakers under `redis_cache`). */
  groups?: BreakerGroups | undefined;
  /** How much rate history to keep, seconds (default 300). */
  historySeconds?: number;
  /** Seconds the headline rate averages over (default 5). */
  rateSeconds?: number;
  /** Minimum spacing of samples, ms (default 900: one per 1 s poll, fewer with many pages). */
  minSampleIntervalMs?: number;
}

interface BreakerSample {
  calls: Counts;
  durations: Record<LatencyOutcome, HistogramSnapshot>;
}

interface Sample {
  at: number;
  wall: number;
  breakers: Map<string, BreakerSample>;
}

const MAX_SAMPLES = 1_000;
/** Consecutive samples further apart than this are a gap (nobody polled), not one long point. */
export const MAX_POINT_SPAN_MS = 5_000;

export class DashboardFeed {
  private readonly samples: Sample[] = [];
  private readonly clock: { now(): number };
  private readonly wallClock: () => number;
  private readonly windowMs: number;
  private readonly historyMs: number;
  private readonly rateMs: number;
  private readonly minIntervalMs: number;
  private readonly startedAt: string;

  constructor(private readonly options: DashboardDataOptions) {
    this.clock = options.clock ?? performance;
    this.wallClock = options.wallClock ?? Date.now;
    this.windowMs = (options.latencyWindowSeconds ?? 60) * 1000;
    this.historyMs = (options.historySeconds ?? 300) * 1000;
    this.rateMs = (options.rateSeconds ?? 5) * 1000;
    this.minIntervalMs = options.minSampleIntervalMs ?? 900;
    this.startedAt = new Date(this.wallClock()).toISOString();
  }

  /** The current document; takes a sample when the last one is old enough. */
  read(): DashboardData {
    const now = this.clock.now();
    const wall = this.wallClock();
    const breakers = this.options.registry.list();
    const current: Sample = { at: now, wall, breakers: new Map() };
    for (const breaker of breakers) current.breakers.set(breaker.name, sampleOf(breaker));
    this.remember(current);

    const criticalOpen = this.options.registry.criticalOpen();
    const views = breakers.map((b) => this.view(b, current));
    const dependencies: Record<string, DependencyView> = {};
    for (const [name, entry] of Object.entries(this.options.dependencies?.() ?? {})) {
      const e = entry as { status?: unknown; reason?: unknown } | null;
      if (typeof e?.status === 'string')
        dependencies[name] = { status: e.status, reason: String(e.reason ?? '') };
    }
    const severity: Severity =
      criticalOpen.length > 0
        ? 'critical'
        : views.some((v) => v.state !== 'closed') ||
            Object.values(dependencies).some((d) => d.status === 'down' || d.status === 'degraded')
          ? 'degraded'
          : 'healthy';
    return {
      generated_at: new Date(wall).toISOString(),
      severity,
      dependencies,
      admin_actions: this.options.history.adminActions(),
      history_seconds: this.historyMs / 1000,
      started_at: this.startedAt,
      critical_open: criticalOpen,
      breakers: views,
      transitions: this.options.history.list(),
    };
  }

  private remember(sample: Sample): void {
    const last = this.samples[this.samples.length - 1];
    if (last !== undefined && sample.at - last.at < this.minIntervalMs) return;
    this.samples.push(sample);
    // Keep one sample older than the longest span used, so that span is fully covered.
    const horizon = sample.at - Math.max(this.windowMs, this.historyMs);
    while (this.samples.length > 2 && this.samples[1]!.at <= horizon) this.samples.shift();
    if (this.samples.length > MAX_SAMPLES)
      this.samples.splice(0, this.samples.length - MAX_SAMPLES);
  }

  /** The oldest retained sample taken at or after `since` (other than `current`) that has `name`. */
  private firstSince(name: string, since: number, current: Sample): Sample | undefined {
    for (const s of this.samples) {
      if (s === current || s.at >= current.at) break;
      if (s.at >= since && s.breakers.has(name)) return s;
    }
    return undefined;
  }

  /** The newest retained sample taken at or before `until` that has `name`. */
  private lastUntil(name: string, until: number): Sample | undefined {
    for (let i = this.samples.length - 1; i >= 0; i--) {
      const s = this.samples[i]!;
      if (s.at <= until && s.breakers.has(name)) return s;
    }
    return undefined;
  }

  private view(breaker: CircuitBreaker, current: Sample): BreakerView {
    const m = breaker.metrics();
    const now = current.breakers.get(breaker.name)!;
    const child = this.options.groups?.childOf(breaker.name);
    const summary = child === undefined ? this.options.groups?.summaryOf(breaker.name) : undefined;
    const log = this.options.telemetry.logCounts(breaker);
    const logTotal = log.emitted + log.suppressed;

    // Rates: the headline over the last few seconds, the series between consecutive samples.
    const rateBase = this.firstSince(breaker.name, current.at - this.rateMs - 250, current);
    // The series joins consecutive retained samples (a poll too soon after the last sample
    // is not retained, so every point spans at least `minSampleIntervalMs`). A child (a
    // shard) has none: the page shows it as a chip and a table row, and 16 shards of
    // 300-point series would swell every poll.
    const series: BreakerView['rates']['series'] = [];
    const historyStart = current.at - this.historyMs;
    const first = child === undefined ? 1 : this.samples.length;
    for (let i = first; i < this.samples.length; i++) {
      const previous = this.samples[i - 1]!;
      const s = this.samples[i]!;
      if (s.at < historyStart) continue;
      const a = previous.breakers.get(breaker.name);
      const b = s.breakers.get(breaker.name);
      // A gap (nobody polled for a while) is left out rather than averaged over.
      if (a === undefined || b === undefined || s.at - previous.at > MAX_POINT_SPAN_MS) continue;
      series.push({
        from: previous.wall,
        t: s.wall,
        ...rates(a.calls, b.calls, s.at - previous.at),
      });
    }

    // Latency over the window once samples cover all of it; until then, since start.
    const windowBase = this.lastUntil(breaker.name, current.at - this.windowMs);
    const lifetime = latencyStats(now.durations, undefined);
    const windowed =
      windowBase === undefined
        ? lifetime
        : latencyStats(now.durations, windowBase.breakers.get(breaker.name)!.durations);

    const currentRates =
      rateBase === undefined
        ? null
        : rates(rateBase.breakers.get(breaker.name)!.calls, now.calls, current.at - rateBase.at);
    const totalRate =
      currentRates === null ? 0 : CALL_OUTCOMES.reduce((sum, o) => sum + currentRates[o], 0);
    const rateConfig = m.config.failure_rate;
    const slowConfig = m.config.slow_call;
    return {
      name: breaker.name,
      ...child,
      ...(summary === undefined ? {} : { shards: summary }),
      last_failure: m.last_failure ?? this.options.history.lastFailure(breaker.name),
      failure_rate:
        m.failure_rate === null || rateConfig === null
          ? null
          : {
              rate: m.failure_rate.rate,
              calls: m.failure_rate.calls,
              threshold: rateConfig.threshold,
              minimum_calls: rateConfig.minimum_calls,
              window: rateConfig.window,
            },
      slow_call_rate:
        m.slow_call_rate == null || slowConfig == null
          ? null
          : {
              rate: m.slow_call_rate.rate,
              calls: m.slow_call_rate.calls,
              threshold: slowConfig.rate_threshold,
              minimum_calls: slowConfig.minimum_calls ?? null,
              window: rateConfig?.window ?? null,
            },
      rejection_share:
        currentRates === null || totalRate === 0 ? null : currentRates.rejected / totalRate,
      state: m.state,
      mode: m.mode,
      critical: m.critical,
      time_in_state_seconds: m.time_in_state_seconds,
      retry_after_seconds: m.retry_after_seconds,
      state_changed_at: m.state_changed_at,
      last_failure_time: m.last_failure_time,
      failure_count: m.failure_count,
      opened_count: m.opened_count,
      config: {
        failure_threshold: m.config.failure_threshold,
        recovery_timeout: m.config.recovery_timeout,
        half_open_max_calls: m.config.half_open_max_calls,
      },
      calls: { ...now.calls },
      rates: {
        current: currentRates,
        seconds: rateBase === undefined ? null : round((current.at - rateBase.at) / 1000, 3),
        series,
      },
      latency: {
        basis: windowBase === undefined ? 'lifetime' : 'window',
        seconds: windowBase === undefined ? null : round((current.at - windowBase.at) / 1000, 3),
        window: windowed,
        lifetime,
      },
      log: {
        emitted: log.emitted,
        suppressed: log.suppressed,
        noise_reduction: logTotal === 0 ? null : log.suppressed / logTotal,
      },
    };
  }
}

function sampleOf(breaker: CircuitBreaker): BreakerSample {
  const calls = {} as Counts;
  for (const outcome of CALL_OUTCOMES) calls[outcome] = breaker.callCount(outcome);
  return {
    calls,
    durations: {
      success: breaker.durations('success'),
      rejected: breaker.durations('rejected'),
      failure: breaker.durations('failure'),
    },
  };
}

function rates(from: Counts, to: Counts, ms: number): Counts {
  const result = {} as Counts;
  for (const outcome of CALL_OUTCOMES) {
    result[outcome] =
      ms <= 0 ? 0 : round(Math.max(0, to[outcome] - from[outcome]) / (ms / 1000), 3);
  }
  return result;
}

function latencyStats(
  now: Record<LatencyOutcome, HistogramSnapshot>,
  base: Record<LatencyOutcome, HistogramSnapshot> | undefined,
): Record<LatencyOutcome, LatencyStats> {
  const result = {} as Record<LatencyOutcome, LatencyStats>;
  for (const outcome of LATENCY_OUTCOMES) {
    const h = base === undefined ? now[outcome] : histogramDelta(now[outcome], base[outcome]);
    result[outcome] = {
      count: h.count,
      p50: histogramQuantile(h, 0.5),
      p99: histogramQuantile(h, 0.99),
      mean: h.count === 0 ? null : h.sum / h.count,
    };
  }
  return result;
}

/**
 * The calls recorded between two cumulative snapshots. The minimum and maximum of that
 * interval are unknown: 0 and the lifetime maximum bound them (used only to clamp estimates).
 */
export function histogramDelta(now: HistogramSnapshot, base: HistogramSnapshot): HistogramSnapshot {
  const counts = now.counts.map((c, i) => Math.max(0, c - (base.counts[i] ?? 0)));
  const count = counts.reduce((a, b) => a + b, 0);
  return {
    boundaries: now.boundaries,
    counts,
    count,
    sum: Math.max(0, now.sum - base.sum),
    min: 0,
    max: now.max,
  };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
