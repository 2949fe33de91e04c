/**
 * The "Circuit breakers" Grafana dashboard, as code. `npm run dashboards` (tsx
 * dashboards/generate.ts) writes it to grafana/dashboards/circuit-breakers.json; never edit the
 * JSON by hand (test/stack/dashboards.test.ts fails when it differs from this source).
 *
 * Every query uses the metric names of dashboards/metrics.ts only (the library's
 * circuit_breaker_* series and the service's own), never recording rules, so the dashboard works against any Prometheus that
 * scrapes the service.
 */
import {
  BigValueColorMode,
  BigValueGraphMode,
  BigValueTextMode,
  GraphDrawStyle,
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  ScaleDistribution,
  ScaleDistributionConfigBuilder,
  SortOrder,
  StackingConfigBuilder,
  StackingMode,
  TooltipDisplayMode,
  VisibilityMode,
  VizLegendOptionsBuilder,
  VizTooltipOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import {
  AnnotationQueryBuilder,
  DashboardBuilder,
  DashboardCursorSync,
  MappingType,
  QueryVariableBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
  type Dashboard,
  type DynamicConfigValue,
  type ValueMapping,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanelBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as StateTimelinePanelBuilder } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TimeseriesPanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import {
  BREAKER_METRICS as M,
  CIRCUIT_BREAKERS_DASHBOARD_UID,
  OTEL_METRICS as O,
  PROMETHEUS_DATASOURCE,
  SERVICE_METRICS as S,
} from './metrics.js';

const DS = { ...PROMETHEUS_DATASOURCE };
const RATE = '$__rate_interval';

/**
 * On a Redis Cluster every shard has a breaker of its own, `redis_cache:<shard>` (CONTRACT.md,
 * section 3). Listed beside redis_cache they would drown the breaker panels (16 shards, 16
 * more lines in each), so the breaker panels and the $breaker variable leave them out, and
 * the "Redis Cluster shards" row shows them, under the parent they belong to.
 */
const NOT_A_SHARD = 'circuit_breaker_name!~".+:[0-9]+"';

/** Label matchers for the instance and breaker variables, plus any extra matchers. */
function sel(...extra: string[]): string {
  return `{${[...extra, 'instance=~"$instance"', 'circuit_breaker_name=~"$breaker"', NOT_A_SHARD].join(', ')}}`;
}

/** The shard breakers of the selected breakers (their parents), on the selected instances. */
function selShards(...extra: string[]): string {
  return `{${[...extra, 'instance=~"$instance"', 'circuit_breaker_name=~"($breaker):[0-9]+"'].join(', ')}}`;
}
/** Instance variable only: the service metrics carry no breaker label. */
function selInstance(...extra: string[]): string {
  return `{${[...extra, 'instance=~"$instance"'].join(', ')}}`;
}

/** Circuit state as one number per series: 0 closed, 1 half_open, 2 open. */
function stateValue(by: string, selector: (...extra: string[]) => string = sel): string {
  return (
    `max by (${by}) (\n` +
    `    (${M.state}${selector('state="open"')} == 1) * 2\n` +
    `  or (${M.state}${selector('state="half_open"')} == 1) * 1\n` +
    `  or (${M.state}${selector('state="closed"')} == 1) * 0\n` +
    `)`
  );
}

function quantile(q: number, metricBucket: string, selector: string, by: string): string {
  return `histogram_quantile(${q}, sum by (${by}, le) (rate(${metricBucket}${selector}[${RATE}])))`;
}

function ratio(numerator: string, denominator: string): string {
  return `${numerator}\n/\n${denominator}`;
}

function query(refId: string, expr: string, legend: string): DataqueryBuilder {
  return new DataqueryBuilder().datasource(DS).refId(refId).expr(expr).legendFormat(legend);
}

const STATE_MAPPINGS: ValueMapping[] = [
  {
    type: MappingType.ValueToText,
    options: {
      '0': { text: 'closed', color: 'green', index: 0 },
      '1': { text: 'half_open', color: 'yellow', index: 1 },
      '2': { text: 'open', color: 'red', index: 2 },
    },
  },
];

function fixedColor(color: string): DynamicConfigValue[] {
  return [{ id: 'color', value: { mode: 'fixed', fixedColor: color } }];
}

function thresholds(...steps: Array<[number | null, string]>): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps(steps.map(([value, color]) => ({ value, color })));
}

function legend(): VizLegendOptionsBuilder {
  return new VizLegendOptionsBuilder()
    .showLegend(true)
    .displayMode(LegendDisplayMode.List)
    .placement(LegendPlacement.Bottom)
    .calcs([]);
}

function tooltip(): VizTooltipOptionsBuilder {
  return new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi).sort(SortOrder.Descending);
}

function timeseries(title: string, description: string): TimeseriesPanelBuilder {
  return new TimeseriesPanelBuilder()
    .title(title)
    .description(description)
    .datasource(DS)
    .legend(legend())
    .tooltip(tooltip())
    .lineWidth(1)
    .fillOpacity(10)
    .showPoints(VisibilityMode.Never)
    .span(12)
    .height(8);
}

function stat(title: string, description: string, expr: string): StatPanelBuilder {
  return new StatPanelBuilder()
    .title(title)
    .description(description)
    .datasource(DS)
    .withTarget(query('A', expr, '').instant())
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .colorMode(BigValueColorMode.Background)
    .graphMode(BigValueGraphMode.None)
    .span(4)
    .height(4);
}

/** Colours calls by outcome in every call-rate panel. */
function outcomeColors(panel: TimeseriesPanelBuilder): TimeseriesPanelBuilder {
  return panel
    .overrideByRegexp('.*success.*', fixedColor('green'))
    .overrideByRegexp('.*failure.*', fixedColor('orange'))
    .overrideByRegexp('.*rejected.*', fixedColor('red'))
    .overrideByRegexp('.*ignored.*', fixedColor('blue'));
}

/** Builds the dashboard. Pure and deterministic: same source, same JSON. */
/** The share of one counter's rate that matches `numerator`, summed by `by` (or overall). */
function shareOf(metric: string, numerator: string, by?: string): string {
  const sum = by === undefined ? 'sum' : `sum by (${by}) `;
  return ratio(
    `${sum}(rate(${metric}${sel(numerator)}[${RATE}]))`,
    `${sum}(rate(${metric}${sel()}[${RATE}]))`,
  );
}

/** Fleet (solid, A) and per-instance (dashed, B) share of one counter's matching series. */
function withFleetAndInstanceRatio(
  panel: TimeseriesPanelBuilder,
  metric: string,
  numerator: string,
): TimeseriesPanelBuilder {
  return panel
    .withTarget(
      query(
        'A',
        shareOf(metric, numerator, 'circuit_breaker_name'),
        '{{circuit_breaker_name}} (fleet)',
      ),
    )
    .withTarget(
      query(
        'B',
        shareOf(metric, numerator, 'instance, circuit_breaker_name'),
        '{{circuit_breaker_name}} @ {{instance}}',
      ),
    )
    .overrideByQuery('B', [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }]);
}

export function circuitBreakersDashboard(): Dashboard {
  let nextId = 1;
  const id = (): number => nextId++;

  const builder = new DashboardBuilder('Circuit breakers')
    .uid(CIRCUIT_BREAKERS_DASHBOARD_UID)
    .description(
      'breakerbox circuit breakers (redis_cache, embedding_service): state, calls, fail-fast ' +
        'latency, log-noise reduction and the dependencies behind them, for the fleet and per ' +
        'instance. Generated from dashboards/circuit-breakers.ts (npm run dashboards): edit the ' +
        'source, not this dashboard.',
    )
    .tags(['breakerbox', 'circuit-breakers', 'generated'])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .refresh('30s')
    .withVariable(
      new QueryVariableBuilder('instance')
        .label('Instance')
        .description('Service replicas (Prometheus scrape targets) that export circuit breakers.')
        .datasource(DS)
        .query(`label_values(${M.state}, instance)`)
        .definition(`label_values(${M.state}, instance)`)
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc)
        .multi(true)
        .includeAll(true)
        .allValue('.*')
        .current({ selected: true, text: ['All'], value: ['$__all'] }),
    )
    .withVariable(
      new QueryVariableBuilder('breaker')
        .label('Breaker')
        .description(
          'Circuit breakers registered on the selected instances. Shard breakers of a Redis ' +
            'Cluster (redis_cache:<shard>) are not listed: they follow their parent, in the ' +
            '"Redis Cluster shards" row.',
        )
        .datasource(DS)
        .query(
          `label_values(${M.state}{instance=~"$instance", ${NOT_A_SHARD}}, circuit_breaker_name)`,
        )
        .definition(
          `label_values(${M.state}{instance=~"$instance", ${NOT_A_SHARD}}, circuit_breaker_name)`,
        )
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc)
        .multi(true)
        .includeAll(true)
        .allValue('.*')
        .current({ selected: true, text: ['All'], value: ['$__all'] }),
    )
    .annotation(
      new AnnotationQueryBuilder()
        .name('Circuit opened')
        .datasource(DS)
        .enable(true)
        .iconColor('red')
        .expr(
          `sum by (circuit_breaker_name, instance) (increase(${M.transitions}${sel('to_state="open"')}[${RATE}])) > 0`,
        )
        .titleFormat('{{circuit_breaker_name}} opened')
        .textFormat('on {{instance}}')
        .tagKeys('circuit_breaker_name,instance'),
    );

  // --- Overview ------------------------------------------------------------------------------
  builder.withRow(new RowBuilder('Overview').id(id()));
  const stats: StatPanelBuilder[] = [
    stat(
      'Critical circuits open',
      'Instances × critical breakers (embedding_service) whose circuit is open now. Above 0, ' +
        'calls to that dependency fail fast (503) and /health/ready answers 503 on those ' +
        'instances; the CriticalCircuitOpen alert pages. Check the dependency first.',
      `sum(${M.state}${sel('state="open"', 'critical="true"')})`,
    )
      .thresholds(thresholds([null, 'green'], [1, 'red']))
      .noValue('0'),
    stat(
      'Open circuits',
      'Instances × breakers whose circuit is open now, critical or not. A non-critical open ' +
        '(redis_cache) degrades answers (L1 cache or miss) without failing them; it warns after ' +
        '10 minutes (NonCriticalCircuitOpenTooLong).',
      `sum(${M.state}${sel('state="open"')})`,
    )
      .thresholds(thresholds([null, 'green'], [1, 'orange']))
      .noValue('0'),
    stat(
      'Half-open circuits',
      'Instances × breakers probing the dependency right now (half_open). Normally brief: ' +
        'the probe either closes the circuit or opens it again.',
      `sum(${M.state}${sel('state="half_open"')})`,
    )
      .thresholds(thresholds([null, 'green'], [1, 'yellow']))
      .noValue('0'),
    stat(
      'Rejected calls (fleet)',
      'Share of all calls through the selected breakers that were rejected without reaching ' +
        'the dependency, across the fleet. Sustained above 50% it warns ' +
        '(CircuitHighRejectionRate): find out why the circuit keeps opening.',
      shareOf(M.calls, 'outcome="rejected"'),
    )
      .unit('percentunit')
      .decimals(1)
      .thresholds(thresholds([null, 'green'], [0.05, 'orange'], [0.5, 'red'])),
    stat(
      'Log-noise reduction (fleet)',
      'Share of would-be log lines (each failure and rejection) that were counted instead of ' +
        'logged: suppressed / (suppressed + emitted). High during an outage is the point: one ' +
        'line per state change plus a periodic summary instead of one per call.',
      shareOf(M.logEvents, 'disposition="suppressed"'),
    )
      .unit('percentunit')
      .decimals(1)
      .thresholds(thresholds([null, 'blue'])),
    stat(
      'Instances reporting',
      'Service replicas currently exporting circuit breaker metrics. Fewer than expected: a ' +
        'replica is down or Prometheus cannot scrape it (check Status > Targets in Prometheus).',
      `count(count by (instance) (${M.state}${selInstance()}))`,
    )
      .thresholds(thresholds([null, 'red'], [1, 'green']))
      .noValue('0'),
  ];
  for (const panel of stats) builder.withPanel(panel.id(id()));

  builder.withPanel(
    new StateTimelinePanelBuilder()
      .id(id())
      .title('Circuit state — fleet (worst instance)')
      .description(
        'Per breaker, the worst state across the selected instances: green closed, yellow ' +
          'half_open, red open. An open shorter than the scrape interval never appears here ' +
          '(the gauge is sampled); the "Circuit opened" annotations and the transitions panel ' +
          'come from the transitions counter and do show it.',
      )
      .datasource(DS)
      .withTarget(query('A', stateValue('circuit_breaker_name'), '{{circuit_breaker_name}}'))
      .mappings(STATE_MAPPINGS)
      .thresholds(thresholds([null, 'green']))
      .showValue(VisibilityMode.Never)
      .mergeValues(true)
      .rowHeight(0.8)
      .legend(legend())
      .span(24)
      .height(5),
  );
  builder.withPanel(
    new StateTimelinePanelBuilder()
      .id(id())
      .title('Circuit state per instance — $breaker')
      .description(
        'One row per instance for this breaker (the panel repeats for each selected breaker). ' +
          'One instance open while the others stay closed points at that instance (its network, ' +
          'its connection pool); all of them together points at the dependency.',
      )
      .datasource(DS)
      .repeat('breaker')
      .repeatDirection('h')
      .maxPerRow(2)
      .withTarget(query('A', stateValue('instance, circuit_breaker_name'), '{{instance}}'))
      .mappings(STATE_MAPPINGS)
      .thresholds(thresholds([null, 'green']))
      .showValue(VisibilityMode.Never)
      .mergeValues(true)
      .rowHeight(0.8)
      .legend(legend())
      .span(12)
      .height(6),
  );

  // --- Redis Cluster shards (collapsed) -------------------------------------------------------
  // One breaker per shard when the cache runs on a Redis Cluster (REDIS_CLUSTER_NODES). Shown
  // under their parent, and only when someone opens the row: with 3 or 16 shards the panels
  // above stay about the breakers as the service's callers see them.
  const shardStates: Array<[string, string]> = [
    ['closed', 'green'],
    ['half_open', 'yellow'],
    ['open', 'red'],
  ];
  let shardStatesPanel = new StatPanelBuilder()
    .id(id())
    .title('Shard breakers by state')
    .description(
      'Instances × Redis Cluster shard breakers (redis_cache:<shard>, one per master and its ' +
        'replicas) in each state, for the selected breakers (redis_cache) and instances. ' +
        'Open shards answer from L1 or as a miss while the other shards keep using Redis; ' +
        'redis_cache itself opens only when every shard is open.',
    )
    .datasource(DS)
    .withTarget(query('A', `sum by (state) (${M.state}${selShards()})`, '{{state}}').instant())
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .textMode(BigValueTextMode.ValueAndName)
    .colorMode(BigValueColorMode.Background)
    .graphMode(BigValueGraphMode.None)
    .noValue('no shards')
    .span(8)
    .height(5);
  for (const [state, color] of shardStates) {
    shardStatesPanel = shardStatesPanel.overrideByName(state, fixedColor(color));
  }
  builder.withRow(
    new RowBuilder('Redis Cluster shards')
      .id(id())
      .collapsed(true)
      .withPanel(shardStatesPanel)
      .withPanel(
        stat(
          'Open shards',
          'Shards whose breaker is open on at least one selected instance. Each is a part of ' +
            'the key space the cache cannot read from or write to Redis right now; more than ' +
            'zero for 10 minutes warns (RedisClusterShardOpenTooLong). Check that shard’s ' +
            'master (and whether a replica was promoted).',
          `sum(max by (circuit_breaker_name) (${M.state}${selShards('state="open"')}))`,
        )
          .id(id())
          .thresholds(thresholds([null, 'green'], [1, 'red']))
          .noValue('no shards')
          .span(4)
          .height(5),
      )
      .withPanel(
        new StateTimelinePanelBuilder()
          .id(id())
          .title('Shard state — fleet (worst instance)')
          .description(
            'One row per shard breaker (redis_cache:<lowest slot of the shard>), the worst ' +
              'state across the selected instances: green closed, yellow half_open, red open. ' +
              'One shard red while the others stay green is one master down; ids change only ' +
              'when slots are resharded, not on a failover.',
          )
          .datasource(DS)
          .withTarget(
            query('A', stateValue('circuit_breaker_name', selShards), '{{circuit_breaker_name}}'),
          )
          .mappings(STATE_MAPPINGS)
          .thresholds(thresholds([null, 'green']))
          .showValue(VisibilityMode.Never)
          .mergeValues(true)
          .rowHeight(0.8)
          .legend(legend())
          .span(12)
          .height(8),
      ),
  );

  // --- HTTP ----------------------------------------------------------------------------------
  // The service's own requests (http.server.request.duration, OpenTelemetry HTTP semconv),
  // beside the breakers: http_route is the route template, never the raw path.
  const httpCount = `${O.httpServerDuration}_count`;
  const notHealth = 'http_route!~"/health.*"';
  builder.withRow(new RowBuilder('HTTP').id(id()));
  builder.withPanel(
    timeseries(
      'Request rate by route — fleet',
      'HTTP requests per second by route template and status code, summed over the selected ' +
        'instances. A 503 on /v1/embeddings while embedding_service is open is the fail-fast ' +
        'answer; 5xx elsewhere is a bug or an overload.',
    )
      .id(id())
      .unit('reqps')
      .min(0)
      .withTarget(
        query(
          'A',
          `sum by (http_route, http_response_status_code) (rate(${httpCount}${selInstance()}[${RATE}]))`,
          '{{http_route}} {{http_response_status_code}}',
        ),
      ),
  );
  builder.withPanel(
    timeseries(
      'Error ratio (5xx) by route — fleet',
      '5xx answers / all answers per route template (health routes excluded: /health/ready ' +
        'answers 503 by design while a critical circuit is open). Sustained above 5% it warns ' +
        '(HighHttp5xxRatio).',
    )
      .id(id())
      .unit('percentunit')
      .min(0)
      .max(1)
      .withTarget(
        query(
          'A',
          ratio(
            `(sum by (http_route) (rate(${httpCount}${selInstance('http_response_status_code=~"5.."', notHealth)}[${RATE}])) or 0 * sum by (http_route) (rate(${httpCount}${selInstance(notHealth)}[${RATE}])))`,
            `sum by (http_route) (rate(${httpCount}${selInstance(notHealth)}[${RATE}]))`,
          ),
          '{{http_route}}',
        ),
      ),
  );
  builder.withPanel(
    timeseries(
      'Request latency by route — fleet (p50, p99)',
      'Server-side request duration by route template (log scale). Compare with the breaker ' +
        'latency below: a request answered from an open circuit costs microseconds plus HTTP.',
    )
      .id(id())
      .unit('s')
      .scaleDistribution(new ScaleDistributionConfigBuilder().type(ScaleDistribution.Log).log(10))
      .withTarget(
        query(
          'A',
          quantile(0.5, `${O.httpServerDuration}_bucket`, selInstance(), 'http_route'),
          '{{http_route}} p50',
        ),
      )
      .withTarget(
        query(
          'B',
          quantile(0.99, `${O.httpServerDuration}_bucket`, selInstance(), 'http_route'),
          '{{http_route}} p99',
        ),
      )
      .overrideByQuery('A', [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }]),
  );

  // --- Calls ---------------------------------------------------------------------------------
  builder.withRow(new RowBuilder('Calls').id(id()));
  builder.withPanel(
    outcomeColors(
      timeseries(
        'Call rate by outcome — fleet',
        'Calls per second through each breaker, summed over the selected instances, by ' +
          'outcome: success, failure (counted towards opening), rejected (circuit open, the ' +
          'dependency was not called), ignored (errors the filter does not count, e.g. a 404). ' +
          'Rising failures precede an open; rejections replace calls while open.',
      )
        .id(id())
        .unit('reqps')
        .min(0)
        .withTarget(
          query(
            'A',
            `sum by (circuit_breaker_name, outcome) (rate(${M.calls}${sel()}[${RATE}]))`,
            '{{circuit_breaker_name}} {{outcome}}',
          ),
        ),
    ),
  );
  builder.withPanel(
    outcomeColors(
      timeseries(
        'Call rate by outcome — per instance',
        'The same calls per second, split by instance. An instance whose failures or ' +
          'rejections stand out while the others are healthy has a local problem.',
      )
        .id(id())
        .unit('reqps')
        .min(0)
        .withTarget(
          query(
            'A',
            `sum by (instance, circuit_breaker_name, outcome) (rate(${M.calls}${sel()}[${RATE}]))`,
            '{{circuit_breaker_name}} {{outcome}} @ {{instance}}',
          ),
        ),
    ),
  );
  builder.withPanel(
    withFleetAndInstanceRatio(
      timeseries(
        'Rejection rate',
        'Rejected calls / all calls, per breaker for the fleet (solid) and per instance ' +
          '(dashed). 100% means the circuit is open and every caller gets the fail-fast answer; ' +
          'sustained above 50% it warns (CircuitHighRejectionRate).',
      )
        .id(id())
        .unit('percentunit')
        .min(0)
        .max(1),
      M.calls,
      'outcome="rejected"',
    ),
  );

  builder.withPanel(
    timeseries(
      'State transitions',
      'Transitions per interval, by breaker and from → to state, summed over the selected ' +
        'instances. Many closed → open / half_open → open transitions mean a flapping ' +
        'dependency. (Every possible pair is exported at 0 from start-up, so the first ' +
        'transition after a restart shows up too.)',
    )
      .id(id())
      .unit('short')
      .min(0)
      .drawStyle(GraphDrawStyle.Bars)
      .fillOpacity(80)
      .stacking(new StackingConfigBuilder().mode(StackingMode.Normal))
      .withTarget(
        query(
          'A',
          `sum by (circuit_breaker_name, from_state, to_state) (increase(${M.transitions}${sel()}[${RATE}]))`,
          '{{circuit_breaker_name}}: {{from_state}} → {{to_state}}',
        ),
      ),
  );

  builder.withPanel(
    timeseries(
      'Failure rate against threshold',
      "Failure rate over each breaker's sliding window (solid) and the rate at which it opens " +
        '(dashed), per instance. Only breakers with a failure-rate policy (redis_cache: 25% ' +
        'of at least 20 calls in 30 s) report it; the consecutive-failure threshold applies too.',
    )
      .id(id())
      .unit('percentunit')
      .min(0)
      .max(1)
      .withTarget(
        query(
          'A',
          `max by (instance, circuit_breaker_name) (${S.failureRate}${sel()})`,
          '{{circuit_breaker_name}} @ {{instance}}',
        ),
      )
      .withTarget(
        query(
          'B',
          `max by (circuit_breaker_name) (${S.failureRateThreshold}${sel()})`,
          '{{circuit_breaker_name}} threshold',
        ),
      )
      .overrideByQuery('B', [
        { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
        { id: 'color', value: { mode: 'fixed', fixedColor: 'red' } },
      ]),
  );
  builder.withPanel(
    new StatPanelBuilder()
      .id(id())
      .title('Last transition and its reason')
      .description(
        'The latest state change of each breaker across the selected instances: to which ' +
          'state, why (failure_threshold, failure_rate, probe_failure, recovery_timeout, ' +
          'manual_open, ...) and how long ago.',
      )
      .datasource(DS)
      .withTarget(
        query(
          'A',
          `topk by (circuit_breaker_name) (1, max by (circuit_breaker_name, from_state, to_state, reason) (${S.lastTransition}${sel()}))`,
          '{{circuit_breaker_name}}: {{from_state}} → {{to_state}} ({{reason}})',
        ).instant(),
      )
      .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
      .unit('dateTimeFromNow')
      .textMode(BigValueTextMode.ValueAndName)
      .colorMode(BigValueColorMode.None)
      .graphMode(BigValueGraphMode.None)
      .span(12)
      .height(8),
  );

  // --- Latency -------------------------------------------------------------------------------
  const bucket = `${M.callDuration}_bucket`;
  const outcomes = 'outcome=~"rejected|success"';
  builder.withRow(new RowBuilder('Latency').id(id()));
  builder.withPanel(
    timeseries(
      'Fail-fast latency vs success latency — fleet (p50, p99)',
      'How long a call took, by outcome, for the fleet (log scale). "rejected" is the ' +
        'fail-fast cost of an open circuit: it should stay in microseconds, orders of magnitude ' +
        'below "success" (a real call to the dependency). A rising rejected latency means the ' +
        'rejection path does work it should not (I/O, timers, contention).',
    )
      .id(id())
      .unit('s')
      .scaleDistribution(new ScaleDistributionConfigBuilder().type(ScaleDistribution.Log).log(10))
      .withTarget(
        query(
          'A',
          quantile(0.5, bucket, sel(outcomes), 'circuit_breaker_name, outcome'),
          '{{circuit_breaker_name}} {{outcome}} p50',
        ),
      )
      .withTarget(
        query(
          'B',
          quantile(0.99, bucket, sel(outcomes), 'circuit_breaker_name, outcome'),
          '{{circuit_breaker_name}} {{outcome}} p99',
        ),
      )
      .overrideByRegexp('.*rejected.*', fixedColor('red'))
      .overrideByRegexp('.*success.*', fixedColor('green'))
      .overrideByQuery('A', [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }]),
  );
  builder.withPanel(
    timeseries(
      'Fail-fast latency vs success latency — per instance (p99)',
      'p99 call duration by instance, breaker and outcome (log scale). One instance with a ' +
        'slow success p99 is a local problem; all of them together is the dependency.',
    )
      .id(id())
      .unit('s')
      .scaleDistribution(new ScaleDistributionConfigBuilder().type(ScaleDistribution.Log).log(10))
      .withTarget(
        query(
          'A',
          quantile(0.99, bucket, sel(outcomes), 'instance, circuit_breaker_name, outcome'),
          '{{circuit_breaker_name}} {{outcome}} @ {{instance}}',
        ),
      ),
  );

  // --- Logs ----------------------------------------------------------------------------------
  builder.withRow(new RowBuilder('Logs').id(id()));
  builder.withPanel(
    withFleetAndInstanceRatio(
      timeseries(
        'Log-noise reduction',
        'suppressed / (suppressed + emitted) per breaker, for the fleet (solid) and per ' +
          'instance (dashed). During an outage this should approach 100%: failures and ' +
          'rejections are counted, not logged, and only state changes and a periodic summary ' +
          'are written. Low during an outage means the logs are flooding.',
      )
        .id(id())
        .unit('percentunit')
        .min(0)
        .max(1),
      M.logEvents,
      'disposition="suppressed"',
    ),
  );

  builder.withPanel(
    timeseries(
      'Log lines by disposition',
      'Log events per second by breaker and disposition, for the fleet: emitted (written: ' +
        'state changes, periodic summaries) and suppressed (counted instead of written).',
    )
      .id(id())
      .unit('short')
      .min(0)
      .withTarget(
        query(
          'A',
          `sum by (circuit_breaker_name, disposition) (rate(${M.logEvents}${sel()}[${RATE}]))`,
          '{{circuit_breaker_name}} {{disposition}}',
        ),
      )
      .overrideByRegexp('.*suppressed.*', fixedColor('blue'))
      .overrideByRegexp('.*emitted.*', fixedColor('purple')),
  );
  builder.withPanel(
    timeseries(
      'Dependency error log lines',
      'Dependency errors (Redis connection and command errors, model load failures) per ' +
        'second by dependency: emitted (the first of a kind, then one summary per interval) ' +
        'and suppressed (folded into a summary count). An outage writes a handful of lines.',
    )
      .id(id())
      .unit('short')
      .min(0)
      .withTarget(
        query(
          'A',
          `sum by (dependency, disposition) (rate(${S.dependencyLogEvents}${selInstance()}[${RATE}]))`,
          '{{dependency}} {{disposition}}',
        ),
      )
      .overrideByRegexp('.*suppressed.*', fixedColor('blue'))
      .overrideByRegexp('.*emitted.*', fixedColor('purple')),
  );

  // --- Dependencies --------------------------------------------------------------------------
  builder.withRow(new RowBuilder('Dependencies').id(id()));
  builder.withPanel(
    timeseries(
      'Cache lookups by level — fleet',
      'Cache lookups per second by where the answer came from: l1 (in-process), l2 (Redis) or ' +
        'miss, for the fleet (stacked). With redis_cache open, l2 drops to zero and lookups ' +
        'are served from l1 or miss: expect more misses and more load behind the cache.',
    )
      .id(id())
      .unit('reqps')
      .min(0)
      .stacking(new StackingConfigBuilder().mode(StackingMode.Normal))
      .fillOpacity(40)
      .withTarget(
        query(
          'A',
          `sum by (result) (rate(${S.cacheLookups}${selInstance()}[${RATE}]))`,
          '{{result}}',
        ),
      )
      .overrideByName('l1', fixedColor('green'))
      .overrideByName('l2', fixedColor('blue'))
      .overrideByName('miss', fixedColor('orange')),
  );
  builder.withPanel(
    timeseries(
      'Cache hit ratio per instance',
      '(l1 + l2) / all lookups, per instance. A drop on every instance at once with ' +
        'redis_cache open is expected (l2 unavailable); a drop on one instance only is local ' +
        '(cold L1 after a restart, or its Redis connection).',
    )
      .id(id())
      .unit('percentunit')
      .min(0)
      .max(1)
      .withTarget(
        query(
          'A',
          ratio(
            `sum by (instance) (rate(${S.cacheLookups}${selInstance('result=~"l1|l2"')}[${RATE}]))`,
            `sum by (instance) (rate(${S.cacheLookups}${selInstance()}[${RATE}]))`,
          ),
          '{{instance}}',
        ),
      ),
  );
  builder.withPanel(
    timeseries(
      'Embedding latency by kind — fleet (p50, p99)',
      'Time to compute embeddings, by model kind (text, code), for the fleet. Slow embeddings ' +
        'feed per-call timeouts and can open embedding_service; compare with the success ' +
        'latency of that breaker above.',
    )
      .id(id())
      .unit('s')
      .min(0)
      .withTarget(
        query(
          'A',
          quantile(0.5, `${S.embeddingDuration}_bucket`, selInstance(), 'kind'),
          '{{kind}} p50',
        ),
      )
      .withTarget(
        query(
          'B',
          quantile(0.99, `${S.embeddingDuration}_bucket`, selInstance(), 'kind'),
          '{{kind}} p99',
        ),
      ),
  );
  builder.withPanel(
    timeseries(
      'Embedding requests per instance',
      'Embedding computations per second by instance and kind. Uneven load across replicas ' +
        'points at the load balancer; zero on every instance while requests arrive means ' +
        'embedding_service is open (see the state panels).',
    )
      .id(id())
      .unit('reqps')
      .min(0)
      .withTarget(
        query(
          'A',
          `sum by (instance, kind) (rate(${S.embeddingDuration}_count${selInstance()}[${RATE}]))`,
          '{{kind}} @ {{instance}}',
        ),
      ),
  );

  // --- Cache coherence -----------------------------------------------------------------------
  // Whether each replica's L1 can be trusted: Redis's invalidations, flushes, the journal.
  builder.withRow(new RowBuilder('Cache coherence').id(id()));
  builder.withPanel(
    timeseries(
      'L1 invalidations and flushes — fleet',
      'Keys each replica dropped from L1 because Redis said another client changed them ' +
        '(CLIENT TRACKING), and L1 flushes by cause: reconnect (a dropped connection ' +
        'may have missed invalidations), redis_restart (a new run_id), flushall, slot_map (a ' +
        'Redis Cluster moved slots to another master). On a cluster a flush drops only the ' +
        'keys of the master or slots concerned. Flushes while Redis is steady point at an ' +
        'unstable network between the service and Redis.',
    )
      .id(id())
      .unit('ops')
      .min(0)
      .withTarget(
        query('A', `sum(rate(${S.l1Invalidations}${selInstance()}[${RATE}]))`, 'invalidations'),
      )
      .withTarget(
        query(
          'B',
          `sum by (cause) (rate(${S.l1Flushes}${selInstance()}[${RATE}]))`,
          'flush: {{cause}}',
        ),
      ),
  );
  builder.withPanel(
    timeseries(
      'L1 coherent per instance',
      '1 while an instance can prove its L1 is coherent with Redis (tracking on, invalidation ' +
        'connection answering). At 0 it reads from Redis, and while Redis is unreachable it ' +
        'serves L1 copies only as a bounded, marked fallback (x-cache-stale), counted in ' +
        'the stale rate beside it.',
    )
      .id(id())
      .min(0)
      .withTarget(
        query('A', `min by (instance) (${S.cacheTracking}${selInstance()})`, '{{instance}}'),
      )
      .withTarget(
        query(
          'B',
          `sum by (instance) (rate(${S.l1StaleServed}${selInstance()}[${RATE}]))`,
          'stale served/s @ {{instance}}',
        ),
      ),
  );
  builder.withPanel(
    timeseries(
      'Invalidation journal per instance',
      'Deletes and overwrites that could not reach Redis, journaled on local disk until the ' +
        'background replay applies them (within seconds of Redis answering again), and the ' +
        'replay and full-journal (503) rates. A size that stays above 0 while Redis is up ' +
        'means that replica cannot reach Redis.',
    )
      .id(id())
      .min(0)
      .withTarget(
        query('A', `max by (instance) (${S.journalSize}${selInstance()})`, 'size @ {{instance}}'),
      )
      .withTarget(
        query(
          'B',
          `sum by (instance) (rate(${S.journalReplays}${selInstance()}[${RATE}]))`,
          'replays/s @ {{instance}}',
        ),
      )
      .withTarget(
        query(
          'C',
          `sum by (instance) (rate(${S.journalRejected}${selInstance()}[${RATE}]))`,
          'rejected/s @ {{instance}}',
        ),
      ),
  );

  // --- Runtime -------------------------------------------------------------------------------
  // @opentelemetry/instrumentation-runtime-node: an event-loop stall delays every request and
  // every breaker timer at once.
  builder.withRow(new RowBuilder('Runtime').id(id()));
  builder.withPanel(
    timeseries(
      'Event-loop delay per instance (p50, p99, max)',
      'How late the Node.js event loop runs timers, per instance. Above ~100 ms requests and ' +
        'breaker timers are delayed by the process itself (CPU-bound work, GC), not by a ' +
        'dependency: check it before blaming Redis for timeouts.',
    )
      .id(id())
      .unit('s')
      .min(0)
      .withTarget(
        query(
          'A',
          `max by (instance) (${O.eventLoopDelayP99}${selInstance()})`,
          '{{instance}} p99',
        ),
      )
      .withTarget(
        query(
          'B',
          `max by (instance) (${O.eventLoopDelayP50}${selInstance()})`,
          '{{instance}} p50',
        ),
      )
      .withTarget(
        query(
          'C',
          `max by (instance) (${O.eventLoopDelayMax}${selInstance()})`,
          '{{instance}} max',
        ),
      ),
  );
  builder.withPanel(
    timeseries(
      'Heap used against heap size, and event-loop utilization',
      'V8 heap in use (all spaces) against the heap V8 has reserved per instance, and the ' +
        'share of time the event loop was busy (right axis). Used heap that only grows is a ' +
        'leak; utilization near 100% means the process is saturated.',
    )
      .id(id())
      .unit('bytes')
      .min(0)
      .withTarget(
        query('A', `sum by (instance) (${O.heapUsed}${selInstance()})`, '{{instance}} heap used'),
      )
      .withTarget(
        query('B', `sum by (instance) (${O.heapSize}${selInstance()})`, '{{instance}} heap size'),
      )
      .withTarget(
        query(
          'C',
          `max by (instance) (${O.eventLoopUtilization}${selInstance()})`,
          '{{instance}} event-loop utilization',
        ),
      )
      .overrideByQuery('B', [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }])
      .overrideByQuery('C', [
        { id: 'unit', value: 'percentunit' },
        { id: 'custom.axisPlacement', value: 'right' },
        { id: 'max', value: 1 },
      ]),
  );

  return builder.build();
}
