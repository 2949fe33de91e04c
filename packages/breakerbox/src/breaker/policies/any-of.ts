import type { PolicySnapshot, TripPolicy, TripReason } from './trip-policy.js';

/**
 * Opens when either of two policies would (nest it for more). Two fixed fields rather than
 * an array keep each call site monomorphic on the per-call path.
 */
export class AnyOfPolicy implements TripPolicy {
  constructor(
    private readonly first: TripPolicy,
    private readonly second: TripPolicy,
  ) {}

  record(failed: boolean, durationMs: number, now: number): TripReason | undefined {
    // Both must see the call, even when the first has decided; the first to decide names it.
    const reason = this.first.record(failed, durationMs, now);
    const other = this.second.record(failed, durationMs, now);
    return reason ?? other;
  }

  reset(): void {
    this.first.reset();
    this.second.reset();
  }

  /** Both snapshots side by side: two policies' `failures` must not overwrite each other. */
  snapshot(now: number): PolicySnapshot {
    return { kind: 'any_of', policies: [this.first.snapshot(now), this.second.snapshot(now)] };
  }
}
