import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  CIRCUIT_BREAKERS_DASHBOARD_UID,
  CONTRACT_METRIC_NAMES,
  KNOWN_LABELS,
  KNOWN_METRIC_NAMES,
} from '../../dashboards/metrics.js';
import { localPrometheusConfig, readPrometheusConfig, SERVICE_JOB } from './prometheus-config.js';
import { promqlNames } from './promql.js';
import { listRuleQueries } from './queries.js';
import { repoPath, requireTool, run } from './tools.js';

const TEST_FILES = readdirSync(repoPath('prometheus', 'tests'))
  .filter((f) => f.endsWith('.yml'))
  .sort()
  .map((f) => path.join('prometheus', 'tests', f));

interface AlertRuleTest {
  alertname: string;
  eval_time: string;
  exp_alerts?: Array<{ exp_labels?: Record<string, string> }>;
}
interface UnitTestFile {
  rule_files: string[];
  tests: Array<{
    name?: string;
    alert_rule_test?: AlertRuleTest[];
    promql_expr_test?: Array<{ expr: string; exp_samples?: unknown[] }>;
  }>;
}
const unitTests = TEST_FILES.map(
  (file) => parseYaml(readFileSync(repoPath(file), 'utf8')) as UnitTestFile,
);

const rules = listRuleQueries();
const alerts = rules.filter((r) => r.kind === 'alert');
const records = rules.filter((r) => r.kind === 'recording');

describe('promtool', () => {
  it('check config: prometheus/prometheus.yml (and the rule files it loads)', () => {
    const result = run(requireTool('promtool'), ['check', 'config', 'prometheus/prometheus.yml']);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toMatch(/SUCCESS: 2 rule files found/);
  });

  it('check rules: prometheus/rules/*.yml', () => {
    const files = [...new Set(rules.map((r) => r.source))];
    expect(files.length).toBeGreaterThanOrEqual(2);
    const result = run(requireTool('promtool'), ['check', 'rules', ...files]);
    expect(result.status, result.output).toBe(0);
  });

  it('test rules: prometheus/tests/*.yml (unit tests of every alert and recording rule)', () => {
    expect(TEST_FILES.length).toBeGreaterThan(0);
    const result = run(requireTool('promtool'), ['test', 'rules', ...TEST_FILES]);
    expect(result.status, result.output).toBe(0);
    expect(result.output).not.toMatch(/FAILED/);
  });

  it('the localhost variant of the config for the live test is valid too', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bb-prom-'));
    try {
      const file = path.join(dir, 'prometheus.yml');
      writeFileSync(
        file,
        localPrometheusConfig({
          targets: ['127.0.0.1:9464', '127.0.0.1:9465'],
          scrapeInterval: '1s',
        }),
      );
      const result = run(requireTool('promtool'), ['check', 'config', file], { cwd: dir });
      expect(result.status, result.output).toBe(0);
      const local = parseYaml(readFileSync(file, 'utf8')) as ReturnType<
        typeof readPrometheusConfig
      >;
      const job = local.scrape_configs?.find((c) => c.job_name === SERVICE_JOB);
      expect(job?.static_configs?.[0]?.targets).toEqual(['127.0.0.1:9464', '127.0.0.1:9465']);
      expect(job?.dns_sd_configs).toBeUndefined();
      expect(local.rule_files?.every((f) => path.isAbsolute(f))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('scrape config', () => {
  const config = readPrometheusConfig();

  it('discovers every replica of the service through Docker DNS (A records, port 9464)', () => {
    const job = config.scrape_configs?.find((c) => c.job_name === SERVICE_JOB);
    expect(job).toBeDefined();
    expect(job?.metrics_path ?? '/metrics').toBe('/metrics');
    expect(job?.dns_sd_configs).toEqual([
      expect.objectContaining({ names: ['breakerbox'], type: 'A', port: 9464 }),
    ]);
  });

  it('loads the rule files and sends alerts to Alertmanager', () => {
    expect(config.rule_files).toEqual(['rules/*.yml']);
    expect(config.alerting?.alertmanagers?.[0]?.static_configs?.[0]?.targets).toEqual([
      'alertmanager:9093',
    ]);
  });
});

describe('alert rules', () => {
  it('are the five the stack promises, and one for Redis Cluster shards', () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual([
      'CircuitHighRejectionRate',
      'CriticalCircuitOpen',
      'CriticalCircuitOpenedBriefly',
      'HighHttp5xxRatio',
      'NonCriticalCircuitOpenTooLong',
      'RedisClusterShardOpenTooLong',
    ]);
    // A shard breaker (redis_cache:<shard>) warns as a shard, never as a generic circuit.
    const shard = 'circuit_breaker_name=~"redis_cache:[0-9]+"';
    expect(alerts.find((a) => a.alert === 'RedisClusterShardOpenTooLong')!.expr).toContain(shard);
    expect(alerts.find((a) => a.alert === 'NonCriticalCircuitOpenTooLong')!.expr).toContain(
      'circuit_breaker_name!~"redis_cache:[0-9]+"',
    );
  });

  it('each has a severity and the summary, description, dashboard_url and runbook annotations', () => {
    const doc = parseYaml(readFileSync(repoPath('prometheus', 'rules', 'alerts.yml'), 'utf8')) as {
      groups: Array<{ rules: Array<{ alert: string; annotations?: Record<string, string> }> }>;
    };
    for (const rule of doc.groups.flatMap((g) => g.rules)) {
      const alert = alerts.find((a) => a.alert === rule.alert);
      expect(['page', 'warning'], rule.alert).toContain(alert?.labels?.severity);
      for (const key of ['summary', 'description', 'dashboard_url', 'runbook']) {
        expect(rule.annotations?.[key], `${rule.alert}.${key}`).toBeTruthy();
      }
      expect(rule.annotations?.dashboard_url).toContain(`/d/${CIRCUIT_BREAKERS_DASHBOARD_UID}/`);
    }
  });

  it('page only for critical breakers', () => {
    const pages = alerts.filter((a) => a.labels?.severity === 'page');
    expect(pages.map((a) => a.alert).sort()).toEqual([
      'CriticalCircuitOpen',
      'CriticalCircuitOpenedBriefly',
    ]);
    for (const page of pages) expect(page.expr).toContain('critical="true"');
  });

  it('on a critical circuit opening use only the circuit_breaker_* metric names the library exports', () => {
    for (const name of ['CriticalCircuitOpen', 'CriticalCircuitOpenedBriefly']) {
      const alert = alerts.find((a) => a.alert === name)!;
      for (const metric of promqlNames(alert.expr).metrics) {
        expect(CONTRACT_METRIC_NAMES, `${name} uses ${metric}`).toContain(metric);
      }
    }
  });
});

describe('rule expressions', () => {
  const recorded = new Set(records.map((r) => r.record!));

  it.each(rules.map((r) => [r.name, r] as const))(
    '%s uses known metrics and labels',
    (_n, rule) => {
      const { metrics, labels } = promqlNames(rule.expr);
      expect(metrics.size).toBeGreaterThan(0);
      for (const metric of metrics) {
        const known = KNOWN_METRIC_NAMES.includes(metric) || recorded.has(metric);
        expect(known, `${rule.name}: unknown metric ${metric}`).toBe(true);
      }
      for (const label of labels) {
        expect(KNOWN_LABELS, `${rule.name}: unknown label ${label}`).toContain(label);
      }
    },
  );

  it('recording rules follow level:metric:operation and only alerts skip recorded series', () => {
    for (const record of records) {
      expect(record.record).toMatch(/^(instance|job):[a-z_]+:[a-z0-9_]+$/);
    }
    for (const alert of alerts) {
      for (const metric of promqlNames(alert.expr).metrics) {
        expect(recorded.has(metric), `${alert.name} depends on recorded ${metric}`).toBe(false);
      }
    }
  });
});

describe('unit test coverage (promtool test rules)', () => {
  const alertTests = unitTests.flatMap((f) => f.tests.flatMap((t) => t.alert_rule_test ?? []));
  const exprTests = unitTests.flatMap((f) => f.tests.flatMap((t) => t.promql_expr_test ?? []));

  it('load the rule files under test', () => {
    const loaded = new Set(unitTests.flatMap((f) => f.rule_files));
    expect([...loaded].sort()).toEqual(['../rules/alerts.yml', '../rules/recording.yml']);
  });

  it.each(alerts.map((a) => [a.alert!]))('%s is tested both firing and not firing', (name) => {
    const mine = alertTests.filter((t) => t.alertname === name);
    expect(
      mine.some((t) => (t.exp_alerts ?? []).length > 0),
      `${name} never fires`,
    ).toBe(true);
    expect(
      mine.some((t) => (t.exp_alerts ?? []).length === 0),
      `${name} never silent`,
    ).toBe(true);
  });

  it('every expected page is for a critical breaker (a non-critical open must not page)', () => {
    const expected = alertTests.flatMap((t) => t.exp_alerts ?? []);
    const pages = expected.filter((a) => a.exp_labels?.severity === 'page');
    expect(pages.length).toBeGreaterThan(0);
    for (const page of pages) expect(page.exp_labels?.critical).toBe('true');
  });

  it.each(records.map((r) => [r.record!]))('recording rule %s is tested', (record) => {
    const tested = exprTests.some(
      (t) => promqlNames(t.expr).metrics.has(record) && (t.exp_samples ?? []).length > 0,
    );
    expect(tested, `no promql_expr_test evaluates ${record}`).toBe(true);
  });
});
