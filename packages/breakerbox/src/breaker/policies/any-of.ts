import type { PolicySnapshot, TripPolicy, TripReason } from './trip-policy.js';

/** Opens when any of its policies would: a consecutive streak or a bad rate. */
export class AnyOfPolicy implements TripPolicy {
  constructor(private readonly policies: readonly TripPolicy[]) {}

  record(failed: boolean, durationMs: number, now: number): TripReason | undefined {
    let reason: TripReason | undefined;
    // Every policy must see the call, even after one has decided; the first to decide names it.
    for (const policy of this.policies) {
      const decided = policy.record(failed, durationMs, now);
      if (reason === undefined) reason = decided;
    }
    return reason;
  }

  reset(): void {
    for (const policy of this.policies) policy.reset();
  }

  /** Each policy's snapshot side by side: two policies' `failures` must not overwrite each other. */
  snapshot(now: number): PolicySnapshot {
    return { kind: 'any_of', policies: this.policies.map((policy) => policy.snapshot(now)) };
  }
}
