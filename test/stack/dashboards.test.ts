import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { main as generate } from '../../dashboards/generate.js';
import { DASHBOARDS, renderDashboard } from '../../dashboards/index.js';
import {
  KNOWN_LABELS,
  KNOWN_METRIC_NAMES,
  PROMETHEUS_DATASOURCE,
} from '../../dashboards/metrics.js';
import { promqlNames, variableQueryToPromql } from './promql.js';
import { allPanels, listDashboardQueries } from './queries.js';
import { repoPath, requireTool, run } from './tools.js';

const DASHBOARD_DIR = repoPath('grafana', 'dashboards');

function committed(file: string): string {
  return readFileSync(path.join(DASHBOARD_DIR, file), 'utf8');
}

interface DatasourceProvisioning {
  apiVersion: number;
  datasources: Array<{ name: string; uid: string; type: string; url: string; access?: string }>;
}
interface DashboardProvisioning {
  apiVersion: number;
  providers: Array<{ name: string; type: string; options: { path: string } }>;
}

const datasources = parseYaml(
  readFileSync(repoPath('grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8'),
) as DatasourceProvisioning;
const providers = parseYaml(
  readFileSync(repoPath('grafana', 'provisioning', 'dashboards', 'dashboards.yml'), 'utf8'),
) as DashboardProvisioning;

/** The committed dashboards, typed with the SDK's (Grafana's) dashboard schema. */
const dashboards: Array<[string, Dashboard]> = DASHBOARDS.map((d) => [
  d.file,
  JSON.parse(committed(d.file)) as Dashboard,
]);

type AnyPanel = NonNullable<Dashboard['panels']>[number] & {
  targets?: Array<{ datasource?: { uid?: string; type?: string }; expr?: string; refId?: string }>;
  description?: string;
  repeat?: string;
  fieldConfig?: { defaults?: { mappings?: unknown } };
  panels?: AnyPanel[];
};

describe('dashboards as code', () => {
  it.each(DASHBOARDS.map((d) => [d.file, d] as const))(
    '%s: the committed JSON is what the TypeScript source generates (run npm run dashboards)',
    (file, source) => {
      expect(committed(file)).toBe(renderDashboard(source.build()));
    },
  );

  it('every JSON file under grafana/dashboards has a TypeScript source', () => {
    const files = readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual(DASHBOARDS.map((d) => d.file).sort());
  });

  it('builds deterministically', () => {
    for (const source of DASHBOARDS) {
      expect(renderDashboard(source.build())).toBe(renderDashboard(source.build()));
    }
  });

  describe('the generator CLI', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'bb-dash-'));
      vi.spyOn(console, 'log').mockImplementation(() => undefined);
      vi.spyOn(console, 'error').mockImplementation(() => undefined);
    });
    afterEach(() => {
      vi.restoreAllMocks();
      rmSync(dir, { recursive: true, force: true });
    });

    it('writes the dashboards, and --check fails once a file drifts from its source', () => {
      expect(generate(['--out', dir, '--check'])).toBe(1); // nothing written yet
      expect(generate(['--out', dir])).toBe(0);
      for (const d of DASHBOARDS) {
        expect(readFileSync(path.join(dir, d.file), 'utf8')).toBe(committed(d.file));
      }
      expect(generate(['--out', dir, '--check'])).toBe(0);
      const file = path.join(dir, DASHBOARDS[0]!.file);
      writeFileSync(file, committed(DASHBOARDS[0]!.file).replace('Circuit breakers', 'Edited'));
      expect(generate(['--out', dir, '--check'])).toBe(1);
    });

    it('--check passes on the committed files', () => {
      expect(generate(['--check'])).toBe(0);
    });
  });
});

describe('grafana provisioning', () => {
  it('provisions one Prometheus datasource with the uid the dashboards use', () => {
    expect(datasources.apiVersion).toBe(1);
    expect(datasources.datasources).toHaveLength(1);
    const [ds] = datasources.datasources;
    expect(ds).toMatchObject({
      uid: PROMETHEUS_DATASOURCE.uid,
      type: PROMETHEUS_DATASOURCE.type,
      url: 'http://prometheus:9090',
      access: 'proxy',
    });
  });

  it('loads dashboards from files', () => {
    expect(providers.apiVersion).toBe(1);
    expect(providers.providers).toHaveLength(1);
    expect(providers.providers[0]).toMatchObject({ type: 'file' });
    expect(path.posix.isAbsolute(providers.providers[0]!.options.path)).toBe(true);
  });
});

describe.each(dashboards)('%s', (_file, dashboard) => {
  const panels = allPanels(dashboard.panels as AnyPanel[] | undefined) as AnyPanel[];
  const visualisations = panels.filter((p) => p.type !== 'row');
  const uids = new Set(datasources.datasources.map((d) => d.uid));

  it('has a uid, a title and a schema version', () => {
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dashboard.title).toBeTruthy();
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
  });

  it('every panel, target, variable and annotation uses a provisioned datasource by uid', () => {
    const refs: Array<[string, { uid?: string; type?: string } | undefined]> = [];
    for (const panel of visualisations) {
      refs.push([`panel ${panel.title}`, panel.datasource as { uid?: string } | undefined]);
      for (const target of panel.targets ?? []) {
        refs.push([`panel ${panel.title} target ${target.refId}`, target.datasource]);
      }
    }
    for (const variable of dashboard.templating.list ?? []) {
      if (variable.type === 'query') refs.push([`variable ${variable.name}`, variable.datasource]);
    }
    for (const annotation of dashboard.annotations.list ?? []) {
      refs.push([`annotation ${annotation.name}`, annotation.datasource]);
    }
    expect(refs.length).toBeGreaterThan(visualisations.length);
    for (const [where, ref] of refs) {
      expect(ref?.uid, where).toBeDefined();
      expect(uids.has(ref!.uid!), `${where}: unknown datasource uid ${ref?.uid}`).toBe(true);
      expect(ref?.type, where).toBe('prometheus');
    }
  });

  it('every panel has a title, a description, queries with refIds, and unique ids', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of visualisations) {
      expect(panel.title, `panel ${panel.id}`).toBeTruthy();
      expect((panel.description ?? '').length, `${panel.title}: description`).toBeGreaterThan(60);
      expect(panel.targets?.length, `${panel.title}: targets`).toBeGreaterThan(0);
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, `${panel.title}: refIds`).toBe(refIds.length);
      expect(panel.gridPos!.x + panel.gridPos!.w, `${panel.title}: width`).toBeLessThanOrEqual(24);
    }
  });

  it('every query uses only the metric names and labels the service exports', () => {
    const queries = listDashboardQueries().filter((q) => q.source.endsWith(_file));
    expect(queries.length).toBeGreaterThan(10);
    for (const query of queries) {
      const { metrics, labels } = promqlNames(query.promql);
      expect(metrics.size, query.name).toBeGreaterThan(0);
      for (const metric of metrics) {
        expect(KNOWN_METRIC_NAMES, `${query.name}: metric ${metric}`).toContain(metric);
      }
      for (const label of labels) {
        expect(KNOWN_LABELS, `${query.name}: label ${label}`).toContain(label);
      }
      if (query.kind === 'variable') {
        const { label } = variableQueryToPromql(query.expr);
        expect(KNOWN_LABELS, `${query.name}: label ${label}`).toContain(label);
      }
    }
  });

  it('every query parses in Prometheus once Grafana variables are expanded', () => {
    const queries = listDashboardQueries().filter((q) => q.source.endsWith(_file));
    for (const query of queries) expect(query.promql, query.name).not.toMatch(/\$|\[\[/);
    // promtool check rules parses each expression with Prometheus's own parser.
    const dir = mkdtempSync(path.join(tmpdir(), 'bb-dashq-'));
    try {
      const file = path.join(dir, 'dashboard-queries.yml');
      const rules = queries.map((q, i) => ({ record: `dashboard:query:${i}`, expr: q.promql }));
      writeFileSync(file, stringifyYaml({ groups: [{ name: 'dashboard-queries', rules }] }));
      const result = run(requireTool('promtool'), ['check', 'rules', file]);
      expect(result.status, result.output).toBe(0);
      expect(result.output).toContain(`SUCCESS: ${queries.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the Circuit breakers dashboard', () => {
  const dashboard = dashboards.find(([file]) => file === 'circuit-breakers.json')![1];
  const panels = allPanels(dashboard.panels as AnyPanel[] | undefined) as AnyPanel[];
  const exprs = (p: AnyPanel): string => (p.targets ?? []).map((t) => t.expr).join('\n');
  const find = (type: string, title: RegExp): AnyPanel | undefined =>
    panels.find((p) => p.type === type && title.test(p.title ?? ''));

  it('has instance and breaker variables from the state gauge (multi-value, with All)', () => {
    const variables = dashboard.templating.list ?? [];
    const instance = variables.find((v) => v.name === 'instance');
    const breaker = variables.find((v) => v.name === 'breaker');
    expect(instance?.query).toBe('label_values(circuit_breaker_state, instance)');
    // Shard breakers of a Redis Cluster (redis_cache:<shard>) are not offered: they follow
    // their parent in the "Redis Cluster shards" row.
    expect(String(breaker?.query)).toBe(
      'label_values(circuit_breaker_state{instance=~"$instance", circuit_breaker_name!~".+:[0-9]+"}, circuit_breaker_name)',
    );
    for (const v of [instance, breaker]) {
      expect(v).toMatchObject({ type: 'query', multi: true, includeAll: true, allValue: '.*' });
    }
  });

  it('shows a state timeline per breaker (fleet, and per instance repeated by breaker)', () => {
    const timelines = panels.filter((p) => p.type === 'state-timeline');
    expect(timelines).toHaveLength(3); // and one per shard, in the Redis Cluster shards row
    expect(timelines.some((p) => p.repeat === 'breaker')).toBe(true);
    for (const p of timelines) {
      expect(exprs(p)).toContain('circuit_breaker_state');
      const mappings = JSON.stringify(p.fieldConfig?.defaults?.mappings);
      for (const state of ['closed', 'half_open', 'open']) expect(mappings).toContain(state);
    }
  });

  it('counts open and critical-open circuits in stat panels', () => {
    expect(exprs(find('stat', /^Critical circuits open$/)!)).toContain('critical="true"');
    expect(exprs(find('stat', /^Open circuits$/)!)).toContain('state="open"');
  });

  it('has the transitions, outcome, latency, log-noise, cache and embedding panels', () => {
    const expected: Array<[RegExp, string]> = [
      [/^State transitions$/, 'circuit_breaker_transitions_total'],
      [/^Call rate by outcome — fleet$/, 'circuit_breaker_calls_total'],
      [/^Call rate by outcome — per instance$/, 'sum by (instance,'],
      [/^Rejection rate$/, 'outcome="rejected"'],
      [/^Fail-fast latency vs success latency — fleet/, 'outcome=~"rejected|success"'],
      [/^Fail-fast latency vs success latency — per instance/, 'sum by (instance,'],
      [/^Log-noise reduction$/, 'disposition="suppressed"'],
      [/^Cache lookups by level/, 'breakerbox_cache_lookups_total'],
      [/^Embedding latency/, 'breakerbox_embedding_duration_bucket'],
    ];
    for (const [title, needle] of expected) {
      const panel = find('timeseries', title);
      expect(panel, String(title)).toBeDefined();
      expect(exprs(panel!), String(title)).toContain(needle);
    }
  });

  it('every breaker query follows the instance and breaker variables', () => {
    // Counting replicas is about instances, whatever breakers are selected.
    const instanceOnly = new Set(['Circuit breakers / Instances reporting / A']);
    for (const query of listDashboardQueries()) {
      if (query.kind === 'variable') continue;
      for (const selector of query.expr.match(/circuit_breaker_[a-z_]+\{[^}]*\}/g) ?? []) {
        expect(selector, query.name).toContain('instance=~"$instance"');
        if (instanceOnly.has(query.name)) continue;
        // A shard breaker follows the variable through its parent (redis_cache:<shard>).
        expect(selector, query.name).toMatch(
          /circuit_breaker_name=~"\$breaker"|circuit_breaker_name=~"\(\$breaker\):\[0-9\]\+"/,
        );
      }
    }
  });

  it('keeps Redis Cluster shards out of the breaker panels and shows them in a collapsed row', () => {
    const top = dashboard.panels as AnyPanel[];
    const row = top.find((p) => p.type === 'row' && p.title === 'Redis Cluster shards')!;
    expect(row).toMatchObject({ collapsed: true });
    const inRow = row.panels ?? [];
    expect(inRow.map((p) => [p.type, p.title])).toEqual([
      ['stat', 'Shard breakers by state'],
      ['stat', 'Open shards'],
      ['state-timeline', 'Shard state — fleet (worst instance)'],
    ]);
    const shardSelector = 'circuit_breaker_name=~"($breaker):[0-9]+"';
    for (const p of inRow) expect(exprs(p), p.title).toContain(shardSelector);
    expect(exprs(inRow[0]!)).toContain('sum by (state)');
    expect(exprs(inRow[1]!)).toContain('state="open"');
    // Every other breaker selector excludes shard breakers, so they are never peers of
    // redis_cache (a shard per line in every panel).
    for (const p of panels.filter((x) => !inRow.includes(x))) {
      for (const selector of exprs(p).match(/circuit_breaker_[a-z_]+\{[^}]*\}/g) ?? []) {
        if (p.title === 'Instances reporting') continue;
        expect(selector, p.title).toContain('circuit_breaker_name!~".+:[0-9]+"');
      }
    }
  });
});
