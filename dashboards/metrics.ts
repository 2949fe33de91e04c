/**
 * The metric names, labels and datasource the dashboards (and the stack tests) rely on, in one
 * place. The circuit_breaker_* names are the library's, fixed for every user of it (the
 * Telemetry table in README.md); the breakerbox_* names are the service's own. Names are as the OpenTelemetry Prometheus exporter writes them: dots become
 * underscores, monotonic counters get `_total`, histograms `_bucket`/`_sum`/`_count`, and no
 * unit suffix is added.
 */

/** The Grafana datasource every panel queries; grafana/provisioning/datasources provisions it. */
export const PROMETHEUS_DATASOURCE = { type: 'prometheus', uid: 'prometheus' } as const;

/** What the library exports for every breaker (README.md, Telemetry). */
export const BREAKER_METRICS = {
  /** Gauge, 1 for the current state and 0 for the other two. */
  state: 'circuit_breaker_state',
  transitions: 'circuit_breaker_transitions_total',
  calls: 'circuit_breaker_calls_total',
  /** Histogram base name (seconds): use with _bucket, _sum, _count. */
  callDuration: 'circuit_breaker_call_duration',
  logEvents: 'circuit_breaker_log_events_total',
} as const;

/** The service's own metrics. */
export const SERVICE_METRICS = {
  cacheLookups: 'breakerbox_cache_lookups_total',
  /** Histogram base name (seconds). */
  embeddingDuration: 'breakerbox_embedding_duration',
  /** Failure rate of a breaker's sliding window (0..1) and the threshold it opens at. */
  failureRate: 'breakerbox_circuit_breaker_failure_rate',
  failureRateThreshold: 'breakerbox_circuit_breaker_failure_rate_threshold',
  /** Last transition per breaker, labels reason/from_state/to_state, value Unix seconds. */
  lastTransition: 'breakerbox_circuit_breaker_last_transition',
  /** Dependency errors written to the log (emitted) or folded into a summary (suppressed). */
  dependencyLogEvents: 'breakerbox_dependency_log_events_total',
  /** Cache coherence: L1 keys dropped by Redis invalidations, whole-L1 flushes by cause. */
  l1Invalidations: 'breakerbox_cache_l1_invalidations_total',
  l1Flushes: 'breakerbox_cache_l1_flushes_total',
  l1StaleServed: 'breakerbox_cache_l1_stale_served_total',
  /** 1 while L1 is provably coherent with Redis (CLIENT TRACKING on and recently proven). */
  cacheTracking: 'breakerbox_cache_tracking',
  /** Invalidations journaled on disk and not yet applied to Redis; replays; 503s when full. */
  journalSize: 'breakerbox_cache_journal_size',
  journalReplays: 'breakerbox_cache_journal_replays_total',
  journalRejected: 'breakerbox_cache_journal_rejected_total',
} as const;

/**
 * OpenTelemetry ecosystem metrics: the HTTP server semconv histogram (exported with its unit
 * suffix, as Prometheus users know it) and @opentelemetry/instrumentation-runtime-node's.
 */
export const OTEL_METRICS = {
  /** Histogram base name (seconds): labels http_route (template), http_request_method, http_response_status_code. */
  httpServerDuration: 'http_server_request_duration_seconds',
  eventLoopDelayP50: 'nodejs_eventloop_delay_p50',
  eventLoopDelayP99: 'nodejs_eventloop_delay_p99',
  eventLoopDelayMax: 'nodejs_eventloop_delay_max',
  eventLoopUtilization: 'nodejs_eventloop_utilization',
  heapUsed: 'v8js_memory_heap_used',
  heapSize: 'v8js_memory_heap_space_size',
} as const;

const HISTOGRAMS: readonly string[] = [
  BREAKER_METRICS.callDuration,
  SERVICE_METRICS.embeddingDuration,
  OTEL_METRICS.httpServerDuration,
];

/** Every series name a query may use (histograms expanded), plus the exporter's target_info. */
export const KNOWN_METRIC_NAMES: readonly string[] = [
  ...[
    ...Object.values(BREAKER_METRICS),
    ...Object.values(SERVICE_METRICS),
    ...Object.values(OTEL_METRICS),
  ].flatMap((name) =>
    HISTOGRAMS.includes(name) ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
  ),
  'target_info',
];

/** The library's circuit_breaker_* names only (what the critical-open alert may use). */
export const CONTRACT_METRIC_NAMES: readonly string[] = KNOWN_METRIC_NAMES.filter((name) =>
  name.startsWith('circuit_breaker_'),
);

/** Labels that appear on the metrics: their own, Prometheus's, the exporter's scope labels. */
export const KNOWN_LABELS: readonly string[] = [
  // the library's attributes (OTel attribute circuit_breaker.name becomes circuit_breaker_name)
  'circuit_breaker_name',
  'state',
  'critical',
  'from_state',
  'to_state',
  'outcome',
  'disposition',
  'le',
  // service metrics
  'result',
  'kind',
  'reason',
  'dependency',
  'cause',
  // HTTP semconv and runtime metrics
  'http_route',
  'http_request_method',
  'http_response_status_code',
  'url_scheme',
  'error_type',
  'v8js_heap_space_name',
  // added by Prometheus
  'job',
  'instance',
  // added by the OpenTelemetry Prometheus exporter
  'otel_scope_name',
  'otel_scope_version',
  'otel_scope_schema_url',
];

/** The breakers the service registers. */
export const BREAKERS = { redis: 'redis_cache', embedding: 'embedding_service' } as const;

/** Grafana URL path of the circuit breakers dashboard (alerts link to it). */
export const CIRCUIT_BREAKERS_DASHBOARD_UID = 'breakerbox-circuit-breakers';
