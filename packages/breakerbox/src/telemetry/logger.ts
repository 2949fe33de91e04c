/**
 * The logging surface the telemetry needs; a pino logger satisfies it as it is, so the
 * library does not depend on pino.
 */
export interface BreakerLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}
