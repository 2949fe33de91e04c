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

/** An operator's action through the admin API (reset, open, disable), whatever it changed. */
export interface AdminActionRecord {
  breaker: string;
  action: string;
  at: string;
}

/** The error that last counted as a failure: the contract's `metrics().last_failure` shape. */
export interface LastFailure {
  /** The error's code or name. */
  error: string;
  /** Its message, credentials removed. */
  message: string;
  at: string;
}

export interface TransitionHistoryOptions {
  /** Most records kept (transitions and admin actions each). Default 200. */
  capacity?: number;
  /** Records older than this are dropped, ms. Default 15 minutes. */
  maxAgeMs?: number;
  /** Removes credentials from error messages (default: identity). */
  redact?: (message: string) => string;
  /** Wall-clock ms (default Date.now). */
  wallClock?: () => number;
}

/**
 * The last minutes of every breaker in a registry, kept server-side for the dashboard so a
 * page reload loses nothing: transitions, admin actions, and the last failure of each breaker.
 * Bounded by count and by age.
 */
export class TransitionHistory implements Disposable {
  private readonly records: TransitionRecord[] = [];
  private readonly admin: AdminActionRecord[] = [];
  private readonly failures = new Map<string, LastFailure>();
  private readonly lastTransitions = new Map<string, TransitionRecord>();
  private readonly subscriptions = new Map<CircuitBreaker, Disposable[]>();
  private readonly registrySubscriptions: Disposable[];
  private readonly capacity: number;
  private readonly maxAgeMs: number;
  private readonly redact: (message: string) => string;
  private readonly wallClock: () => number;

  constructor(registry: BreakerRegistry, options: TransitionHistoryOptions | number = {}) {
    const o = typeof options === 'number' ? { capacity: options } : options;
    this.capacity = o.capacity ?? 200;
    this.maxAgeMs = o.maxAgeMs ?? 15 * 60_000;
    this.redact = o.redact ?? ((m) => m);
    this.wallClock = o.wallClock ?? Date.now;
    this.registrySubscriptions = [
      registry.onAdded((b) => this.follow(b)),
      registry.onRemoved((b) => {
        for (const s of this.subscriptions.get(b) ?? []) s.dispose();
        this.subscriptions.delete(b);
      }),
    ];
    for (const breaker of registry.list()) this.follow(breaker);
  }

  /** Transitions, oldest first. */
  list(): TransitionRecord[] {
    this.prune();
    return [...this.records];
  }

  /** Admin actions, oldest first. */
  adminActions(): AdminActionRecord[] {
    this.prune();
    return [...this.admin];
  }

  /** Records an operator's action (the admin routes call this). */
  recordAdmin(breaker: string, action: string): void {
    this.admin.push({ breaker, action, at: new Date(this.wallClock()).toISOString() });
    this.trim(this.admin);
  }

  /** The last transition of `breaker`, however old, or null. */
  lastTransition(breaker: string): TransitionRecord | null {
    return this.lastTransitions.get(breaker) ?? null;
  }

  /** The error that last counted as a failure for `breaker`, or null. */
  lastFailure(breaker: string): LastFailure | null {
    return this.failures.get(breaker) ?? null;
  }

  dispose(): void {
    for (const s of this.registrySubscriptions) s.dispose();
    for (const list of this.subscriptions.values()) for (const s of list) s.dispose();
    this.subscriptions.clear();
  }

  private prune(): void {
    const horizon = this.wallClock() - this.maxAgeMs;
    for (const list of [this.records, this.admin] as Array<Array<{ at: string }>>) {
      while (list.length > 0 && Date.parse(list[0]!.at) < horizon) list.shift();
    }
  }

  private trim(list: unknown[]): void {
    if (list.length > this.capacity) list.splice(0, list.length - this.capacity);
  }

  private follow(breaker: CircuitBreaker): void {
    if (this.subscriptions.has(breaker)) return;
    this.subscriptions.set(breaker, [
      breaker.onStateChange((e) => {
        const record: TransitionRecord = {
          breaker: breaker.name,
          from: e.from,
          to: e.to,
          reason: e.reason,
          at: new Date(this.wallClock()).toISOString(),
        };
        this.records.push(record);
        this.lastTransitions.set(breaker.name, record);
        this.trim(this.records);
      }),
      breaker.onFailure((e) => {
        this.failures.set(breaker.name, {
          error: errorName(e.error),
          message: this.redact(errorMessage(e.error)).slice(0, 500),
          at: new Date(this.wallClock()).toISOString(),
        });
      }),
    ]);
  }
}

function errorName(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && code !== '') return code;
    if (typeof name === 'string' && name !== '') return name;
  }
  return typeof error;
}

function errorMessage(error: unknown): string {
  if (error !== null && typeof error === 'object' && 'message' in error)
    return String((error as { message: unknown }).message);
  return String(error);
}
