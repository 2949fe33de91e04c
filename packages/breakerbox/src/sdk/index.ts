// `breakerbox/sdk`: the pieces that plug into the OpenTelemetry SDK (an optional peer dependency).
export { BreakerDurationProducer } from './breaker-duration-producer.js';
export {
  cumulativeHistogram,
  hrTimeNow,
  type HistogramCollection,
} from './histogram-collection.js';
