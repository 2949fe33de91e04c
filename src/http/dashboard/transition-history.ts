import type {
  BreakerRegistry,
  CircuitBreaker,
  CircuitState,
  Disposable,
  TransitionReason,
} from 'breakerbox';

export interface TransitionRecord {
  breaker: string;
  from: CircuitState;
  to: CircuitState;
  reason: TransitionReason;
  /** Wall-clock ISO time of the transition. */
  at: string;
}

/** The last `capacity` transitions of every breaker in a registry, for the dashboard timeline. */
export class TransitionHistory implements Disposable {
  private readonly records: TransitionRecord[] = [];
  private readonly subscriptions = new Map<CircuitBreaker, Disposable>();
  private readonly registrySubscriptions: Disposable[];

  constructor(
    registry: BreakerRegistry,
    private readonly capacity: number,
  ) {
    this.registrySubscriptions = [
      registry.onAdded((b) => this.follow(b)),
      registry.onRemoved((b) => {
        this.subscriptions.get(b)?.dispose();
        this.subscriptions.delete(b);
      }),
    ];
    for (const breaker of registry.list()) this.follow(breaker);
  }

  /** Oldest first. */
  list(): TransitionRecord[] {
    return [...this.records];
  }

  dispose(): void {
    for (const s of this.registrySubscriptions) s.dispose();
    for (const s of this.subscriptions.values()) s.dispose();
    this.subscriptions.clear();
  }

  private follow(breaker: CircuitBreaker): void {
    if (this.subscriptions.has(breaker)) return;
    this.subscriptions.set(
      breaker,
      breaker.onStateChange((e) => {
        this.records.push({
          breaker: breaker.name,
          from: e.from,
          to: e.to,
          reason: e.reason,
          at: new Date().toISOString(),
        });
        if (this.records.length > this.capacity)
          this.records.splice(0, this.records.length - this.capacity);
      }),
    );
  }
}
