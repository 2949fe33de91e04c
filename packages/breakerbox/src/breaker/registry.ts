import type { CircuitBreaker } from './circuit-breaker.js';
import { DuplicateBreakerError } from './errors/index.js';
import { EventEmitter, type Event } from './events.js';
import type { CircuitBreakerSnapshot } from './snapshot.js';

/**
 * The breakers of a process (or of one service instance), by name. Health routes and
 * telemetry read it; breakers add themselves on construction and leave on `dispose()`.
 */
export class BreakerRegistry {
  private readonly byName = new Map<string, CircuitBreaker>();
  private readonly added = new EventEmitter<CircuitBreaker>();
  private readonly removed = new EventEmitter<CircuitBreaker>();

  readonly onAdded: Event<CircuitBreaker> = this.added.event;
  readonly onRemoved: Event<CircuitBreaker> = this.removed.event;

  /** Adds a breaker; a second breaker with the same name is an error, not an overwrite. */
  register(breaker: CircuitBreaker): void {
    const existing = this.byName.get(breaker.name);
    if (existing === breaker) return;
    if (existing !== undefined) throw new DuplicateBreakerError(breaker.name);
    this.byName.set(breaker.name, breaker);
    this.added.fire(breaker);
  }

  unregister(breaker: CircuitBreaker): void {
    if (this.byName.get(breaker.name) !== breaker) return;
    this.byName.delete(breaker.name);
    this.removed.fire(breaker);
  }

  get(name: string): CircuitBreaker | undefined {
    return this.byName.get(name);
  }

  list(): CircuitBreaker[] {
    return [...this.byName.values()];
  }

  get size(): number {
    return this.byName.size;
  }

  /** Every breaker's `metrics()`, keyed by name. */
  snapshot(): Record<string, CircuitBreakerSnapshot> {
    const result: Record<string, CircuitBreakerSnapshot> = {};
    for (const [name, breaker] of this.byName) result[name] = breaker.metrics();
    return result;
  }

  /** Names of critical breakers that are open right now (matched by real name, not a guess). */
  criticalOpen(): string[] {
    return this.list()
      .filter((b) => b.critical && b.state === 'open')
      .map((b) => b.name);
  }
}

/** The process-wide registry breakers join unless told otherwise. */
export const defaultRegistry = new BreakerRegistry();
