/** Something that can be undone: a listener registration, a subscription, a breaker. */
export interface Disposable {
  dispose(): void;
}

/** Subscribe to a typed event; the returned disposable unsubscribes (cockatiel's shape). */
export type Event<T> = (listener: (value: T) => void) => Disposable;

/**
 * A minimal, allocation-free-when-idle emitter. `fire` is called on hot paths (rejections),
 * so `hasListeners` lets callers skip building the payload when nobody listens.
 */
export class EventEmitter<T> {
  private listeners: Array<(value: T) => void> = [];

  readonly event: Event<T> = (listener) => {
    this.listeners = [...this.listeners, listener];
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        this.listeners = this.listeners.filter((l) => l !== listener);
      },
    };
  };

  get hasListeners(): boolean {
    return this.listeners.length > 0;
  }

  fire(value: T): void {
    // Copy-on-write listener array: a listener that unsubscribes mid-fire is safe.
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i]!(value);
      } catch (error) {
        // A faulty observer must never break the call path it observes.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  clear(): void {
    this.listeners = [];
  }
}
