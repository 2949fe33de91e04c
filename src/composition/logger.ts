import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';

/**
 * JSON logs (pino) carrying the active trace and span ids, so a state-change line can be
 * joined to the request that caused it. Authorization headers and Redis URLs are redacted
 * wherever they might appear.
 */
export function createLogger(
  level: string,
  serviceName: string,
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { service: serviceName },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'authorization',
          'headers.authorization',
          'req.headers.authorization',
          'redisUrl',
          'url',
          'password',
        ],
        censor: '[redacted]',
      },
      mixin() {
        const spanContext = trace.getSpan(context.active())?.spanContext();
        // With tracing off, spans are no-ops whose ids are all zeros: log no ids then.
        if (spanContext === undefined || !isSpanContextValid(spanContext)) return {};
        return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
      },
    },
    destination,
  );
}
