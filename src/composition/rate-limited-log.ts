import { ValueType, type Counter, type Meter } from '@opentelemetry/api';

/** The log methods the reporter needs (pino's Logger has them). */
export interface WarnLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface RateLimitedLogOptions {
  logger: WarnLogger;
  /** Length of one summary interval, ms (CIRCUIT_LOG_SUMMARY_INTERVAL). */
  intervalMs: number;
  /** Counts lines written (`emitted`) and occurrences folded into a count (`suppressed`). */
  meter?: Meter;
  /** Strings that must never reach a log line (passwords, user names): replaced by `***`. */
  secrets?: ReadonlyArray<string | undefined>;
  /** Wall-clock ms (default Date.now), for the `first_at`/`last_at` fields. */
  wallClock?: () => number;
}

export interface DependencyErrorReport {
  /** The dependency: `redis`, `embeddings`, ... */
  dependency: string;
  /** What kind of error: `connection:ECONNREFUSED`, `command:OOM`, `model_load:not_found`. */
  kind: string;
  message: string;
  /** Extra structured fields for the first line of a kind (never credentials). */
  fields?: Record<string, unknown>;
}

interface KindState {
  dependency: string;
  kind: string;
  /** Occurrences since the last line about this kind. */
  pending: number;
  lastMessage: string;
  firstAt: number;
  lastAt: number;
}

/** The OTel instrument for the log-noise ratio of dependency errors. */
export const METRIC_DEPENDENCY_LOG_EVENTS = 'breakerbox.dependency.log_events';

/**
 * Dependency errors in the log without a storm: the first error of a kind is written at once
 * (`dependency_error`), later ones of that kind are counted, and once per interval a kind that
 * recurred gets one summary line (`dependency_error_summary`: count, last message). A kind that
 * stays quiet for a whole interval is forgotten, so its next occurrence is written at once
 * again. An outage therefore writes, per kind, one line plus at most one per interval.
 *
 * Every message goes through `redact` first: configured secrets and any `user:password@` in a
 * URL are removed.
 */
export class RateLimitedLog {
  private readonly kinds = new Map<string, KindState>();
  private readonly counter: Counter | undefined;
  private readonly wallClock: () => number;
  private readonly secrets: string[];
  private timer: NodeJS.Timeout | undefined;
  private disposed = false;
  /** Lines written and occurrences suppressed, lifetime (for tests and the dashboard). */
  readonly counts = { emitted: 0, suppressed: 0 };

  constructor(private readonly options: RateLimitedLogOptions) {
    this.wallClock = options.wallClock ?? Date.now;
    this.secrets = (options.secrets ?? []).filter(
      (s): s is string => typeof s === 'string' && s.length > 0,
    );
    this.counter = options.meter?.createCounter(METRIC_DEPENDENCY_LOG_EVENTS, {
      description:
        'Dependency errors: lines written (emitted) and occurrences folded into a summary (suppressed)',
      valueType: ValueType.INT,
    });
  }

  /** Removes credentials from a message. */
  redact(message: string): string {
    let out = message;
    for (const secret of this.secrets) out = out.split(secret).join('***');
    // user:password@ (or :password@) inside any URL-looking text.
    return out.replace(/(\/\/)[^/@\s]*@/g, '$1***@');
  }

  report(report: DependencyErrorReport): void {
    if (this.disposed) return;
    const message = this.redact(report.message);
    const key = `${report.dependency}\u0000${report.kind}`;
    const now = this.wallClock();
    const known = this.kinds.get(key);
    if (known !== undefined) {
      known.pending++;
      known.lastMessage = message;
      known.lastAt = now;
      this.count(report, 'suppressed');
      return;
    }
    this.kinds.set(key, {
      dependency: report.dependency,
      kind: report.kind,
      pending: 0,
      lastMessage: message,
      firstAt: now,
      lastAt: now,
    });
    this.write(
      report,
      {
        event: 'dependency_error',
        dependency: report.dependency,
        kind: report.kind,
        error_message: message,
        ...report.fields,
      },
      `${report.dependency}: ${message}`,
    );
    this.ensureTimer();
  }

  /** Writes the pending summaries now (the interval timer calls this). */
  flush(): void {
    const seconds = Math.round(this.options.intervalMs / 100) / 10;
    for (const [key, state] of this.kinds) {
      if (state.pending === 0) {
        // Quiet for a whole interval: forget it, so its next occurrence is written at once.
        this.kinds.delete(key);
        continue;
      }
      this.write(
        state,
        {
          event: 'dependency_error_summary',
          dependency: state.dependency,
          kind: state.kind,
          count: state.pending,
          interval_seconds: seconds,
          error_message: state.lastMessage,
          last_at: new Date(state.lastAt).toISOString(),
        },
        `${state.dependency}: ${state.pending} more ${state.kind} error(s) in the last ${seconds}s; last: ${state.lastMessage}`,
      );
      state.pending = 0;
    }
    if (this.kinds.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.kinds.clear();
  }

  private ensureTimer(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.flush(), this.options.intervalMs);
    this.timer.unref();
  }

  private write(
    report: Pick<DependencyErrorReport, 'dependency' | 'kind'>,
    fields: Record<string, unknown>,
    message: string,
  ): void {
    this.count(report, 'emitted');
    try {
      this.options.logger.warn(fields, message);
    } catch {
      // A broken log destination must not break the caller.
    }
  }

  private count(
    report: Pick<DependencyErrorReport, 'dependency' | 'kind'>,
    disposition: 'emitted' | 'suppressed',
  ): void {
    this.counts[disposition]++;
    this.counter?.add(1, { dependency: report.dependency, disposition });
  }
}
