import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { allPanels, expandGrafanaVariables, listStackQueries } from './queries.js';
import { repoPath } from './tools.js';

describe('listStackQueries (what the live test evaluates)', () => {
  const queries = listStackQueries();

  it('lists every dashboard target, variable and annotation', () => {
    const dashboard = JSON.parse(
      readFileSync(repoPath('grafana', 'dashboards', 'circuit-breakers.json'), 'utf8'),
    ) as {
      panels: Parameters<typeof allPanels>[0];
      templating: { list: unknown[] };
      annotations: { list: unknown[] };
    };
    const targets = allPanels(dashboard.panels).flatMap((p) => p.targets ?? []);
    expect(queries.filter((q) => q.kind === 'dashboard')).toHaveLength(targets.length);
    expect(queries.filter((q) => q.kind === 'variable')).toHaveLength(
      dashboard.templating.list.length,
    );
    expect(queries.filter((q) => q.kind === 'annotation')).toHaveLength(
      dashboard.annotations.list.length,
    );
  });

  it('lists every recording and alert rule, with its name', () => {
    const names = (file: string, key: 'record' | 'alert'): string[] => {
      const doc = parseYaml(readFileSync(repoPath('prometheus', 'rules', file), 'utf8')) as {
        groups: Array<{ rules: Array<Record<string, string>> }>;
      };
      return doc.groups.flatMap((g) => g.rules.map((r) => r[key]!));
    };
    expect(queries.filter((q) => q.kind === 'recording').map((q) => q.record)).toEqual(
      names('recording.yml', 'record'),
    );
    expect(queries.filter((q) => q.kind === 'alert').map((q) => q.alert)).toEqual(
      names('alerts.yml', 'alert'),
    );
    const critical = queries.find((q) => q.alert === 'CriticalCircuitOpen');
    expect(critical?.labels).toEqual({ severity: 'page' });
  });

  it('gives Prometheus-ready expressions: no Grafana variables left, no empty expression', () => {
    for (const query of queries) {
      expect(query.promql.trim(), query.name).not.toBe('');
      expect(query.promql, query.name).not.toMatch(/\$|\[\[/);
    }
    expect(new Set(queries.map((q) => `${q.kind}:${q.name}`)).size).toBe(queries.length);
  });

  it('expands Grafana variables to chosen values or "All"', () => {
    const expr = 'rate(x{instance=~"$instance", b=~"${breaker}"}[$__rate_interval])';
    expect(expandGrafanaVariables(expr)).toBe('rate(x{instance=~".*", b=~".*"}[1m])');
    expect(
      expandGrafanaVariables(expr, {
        rateInterval: '30s',
        variables: { instance: '127.0.0.1:9464', breaker: 'redis_cache' },
      }),
    ).toBe('rate(x{instance=~"127.0.0.1:9464", b=~"redis_cache"}[30s])');
    expect(() => expandGrafanaVariables('x[$__interval_ms]')).toThrow(/unsupported/);
  });
});
