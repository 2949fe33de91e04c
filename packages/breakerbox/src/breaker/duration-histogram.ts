/**
 * Bucket boundaries in seconds. They start at one microsecond so a fail-fast rejection
 * (a few µs) lands in a bucket of its own; the SDK's defaults (0..10000) cannot show it.
 */
export const DURATION_BOUNDARIES_SECONDS: readonly number[] = [
  0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

const BOUNDARIES_MS = Float64Array.from(DURATION_BOUNDARIES_SECONDS, (s) => s * 1000);

export interface HistogramSnapshot {
  boundaries: readonly number[];
  /** One count per bucket; the last bucket is everything above the last boundary. */
  counts: number[];
  count: number;
  /** Seconds. */
  sum: number;
  min: number;
  max: number;
}

/**
 * A fixed-bucket, cumulative histogram recorded on the hot path with no allocation.
 * The telemetry layer reads it at collection time instead of calling the SDK per call.
 */
export class DurationHistogram {
  private readonly counts = new Float64Array(BOUNDARIES_MS.length + 1);
  private count = 0;
  private sumMs = 0;
  private minMs = Infinity;
  private maxMs = -Infinity;

  record(durationMs: number): void {
    // Linear scan from the small end: the hot cases (rejections, fast calls) stop early.
    let i = 0;
    while (i < BOUNDARIES_MS.length && durationMs > BOUNDARIES_MS[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sumMs += durationMs;
    if (durationMs < this.minMs) this.minMs = durationMs;
    if (durationMs > this.maxMs) this.maxMs = durationMs;
  }

  get total(): number {
    return this.count;
  }

  snapshot(): HistogramSnapshot {
    return {
      boundaries: DURATION_BOUNDARIES_SECONDS,
      counts: Array.from(this.counts),
      count: this.count,
      sum: this.sumMs / 1000,
      min: this.count === 0 ? 0 : this.minMs / 1000,
      max: this.count === 0 ? 0 : this.maxMs / 1000,
    };
  }

  /** Estimated quantile in seconds (linear within the bucket), or null with no data. */
  quantile(q: number): number | null {
    return histogramQuantile(this.snapshot(), q);
  }
}

/** Prometheus-style `histogram_quantile` over a snapshot. */
export function histogramQuantile(h: HistogramSnapshot, q: number): number | null {
  if (h.count === 0) return null;
  const rank = q * h.count;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const inBucket = h.counts[i]!;
    if (seen + inBucket >= rank && inBucket > 0) {
      const lower = i === 0 ? 0 : h.boundaries[i - 1]!;
      const upper = i < h.boundaries.length ? h.boundaries[i]! : h.max;
      const estimate = lower + (upper - lower) * ((rank - seen) / inBucket);
      return Math.min(Math.max(estimate, h.min), h.max);
    }
    seen += inBucket;
  }
  return h.max;
}
