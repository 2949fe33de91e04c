import type { PolicySnapshot, TripPolicy } from './trip-policy.js';

/** Opens when any of its policies would: a consecutive streak or a bad failure rate. */
export class AnyOfPolicy implements TripPolicy {
  constructor(private readonly policies: readonly TripPolicy[]) {}

  onSuccess(now: number): void {
    for (const policy of this.policies) policy.onSuccess(now);
  }

  onFailure(now: number): 'failure_threshold' | 'failure_rate' | undefined {
    let reason: 'failure_threshold' | 'failure_rate' | undefined;
    // Every policy must see the failure, even after one has decided.
    for (const policy of this.policies) reason = policy.onFailure(now) ?? reason;
    return reason;
  }

  reset(): void {
    for (const policy of this.policies) policy.reset();
  }

  snapshot(now: number): PolicySnapshot {
    return Object.assign({}, ...this.policies.map((policy) => policy.snapshot(now)));
  }
}
