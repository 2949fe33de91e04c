/**
 * Every PromQL expression the stack evaluates: dashboard panel queries, dashboard variable and
 * annotation queries (grafana/dashboards/*.json, the committed files Grafana loads), recording
 * rules and alert rules (prometheus/rules/*.yml).
 *
 * The live stack test evaluates each `promql` through a real Prometheus scraping the real
 * service; the static tests check their metric names. Grafana variables in dashboard queries
 * are expanded in `promql` ($__rate_interval to a duration, $instance/$breaker to ".*", i.e.
 * "All").
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { variableQueryToPromql } from './promql.js';
import { REPO_ROOT } from './tools.js';

export type StackQueryKind = 'dashboard' | 'variable' | 'annotation' | 'recording' | 'alert';

export interface StackQuery {
  kind: StackQueryKind;
  /** Repository-relative file the expression comes from. */
  source: string;
  /** Human-readable id: dashboard / panel / refId, or the rule's name. */
  name: string;
  /** The expression as written (Grafana variables intact). */
  expr: string;
  /** The expression Prometheus can evaluate (Grafana variables expanded). */
  promql: string;
  /** Recording rules: the recorded series name. */
  record?: string;
  /** Alert rules: the alert name. */
  alert?: string;
  /** Rules: their static labels (severity for alerts). */
  labels?: Record<string, string>;
  /** Alert rules: the `for` duration, if any. */
  for?: string;
}

export interface ExpandOptions {
  /** Value of $__rate_interval, $__interval and $__range. Default 1m. */
  rateInterval?: string;
  /** Values of dashboard variables; any variable not given is "All" (.*). */
  variables?: Record<string, string>;
}

const BUILTIN_INTERVALS = new Set([
  '__rate_interval',
  '__interval',
  '__range',
  '__range_s',
  '__interval_ms',
]);

/** Expands Grafana's $var / ${var} / [[var]] in a dashboard query for direct evaluation. */
export function expandGrafanaVariables(expr: string, options: ExpandOptions = {}): string {
  const rate = options.rateInterval ?? '1m';
  return expr.replace(
    /\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]/g,
    (_m, a?: string, b?: string, c?: string) => {
      const name = (a ?? b ?? c)!;
      if (BUILTIN_INTERVALS.has(name)) {
        if (name === '__rate_interval' || name === '__interval' || name === '__range') return rate;
        throw new Error(`expandGrafanaVariables: unsupported Grafana variable $${name}`);
      }
      return options.variables?.[name] ?? '.*';
    },
  );
}

interface RawPanel {
  id?: number;
  type?: string;
  title?: string;
  targets?: Array<{ refId?: string; expr?: string }>;
  panels?: RawPanel[];
}
interface RawDashboard {
  title?: string;
  panels?: RawPanel[];
  templating?: { list?: Array<{ name?: string; type?: string; query?: unknown }> };
  annotations?: { list?: Array<{ name?: string; expr?: string; target?: { expr?: string } }> };
}

const DASHBOARD_DIR = path.join('grafana', 'dashboards');
const RULES_DIR = path.join('prometheus', 'rules');

function jsonFiles(dir: string, ext: string): string[] {
  return readdirSync(path.join(REPO_ROOT, dir))
    .filter((file) => file.endsWith(ext))
    .sort()
    .map((file) => path.join(dir, file));
}

/** All panels, including those nested in collapsed rows. */
export function allPanels(panels: readonly RawPanel[] | undefined): RawPanel[] {
  return (panels ?? []).flatMap((panel) => [panel, ...allPanels(panel.panels)]);
}

/** Queries of the committed Grafana dashboards. */
export function listDashboardQueries(options: ExpandOptions = {}): StackQuery[] {
  const queries: StackQuery[] = [];
  for (const source of jsonFiles(DASHBOARD_DIR, '.json')) {
    const dashboard = JSON.parse(
      readFileSync(path.join(REPO_ROOT, source), 'utf8'),
    ) as RawDashboard;
    const title = dashboard.title ?? source;
    for (const variable of dashboard.templating?.list ?? []) {
      if (variable.type !== 'query') continue;
      const raw =
        typeof variable.query === 'string'
          ? variable.query
          : ((variable.query as { query?: string } | undefined)?.query ?? '');
      const { selector } = variableQueryToPromql(raw);
      queries.push({
        kind: 'variable',
        source,
        name: `${title} / $${variable.name ?? '?'}`,
        expr: raw,
        promql: expandGrafanaVariables(selector, options),
      });
    }
    for (const annotation of dashboard.annotations?.list ?? []) {
      const expr = annotation.expr ?? annotation.target?.expr;
      if (expr === undefined || expr === '') continue;
      queries.push({
        kind: 'annotation',
        source,
        name: `${title} / annotation ${annotation.name ?? '?'}`,
        expr,
        promql: expandGrafanaVariables(expr, options),
      });
    }
    for (const panel of allPanels(dashboard.panels)) {
      for (const target of panel.targets ?? []) {
        if (target.expr === undefined || target.expr === '') continue;
        queries.push({
          kind: 'dashboard',
          source,
          name: `${title} / ${panel.title ?? `panel ${panel.id ?? '?'}`} / ${target.refId ?? '?'}`,
          expr: target.expr,
          promql: expandGrafanaVariables(target.expr, options),
        });
      }
    }
  }
  return queries;
}

interface RawRule {
  record?: string;
  alert?: string;
  expr?: string | number;
  for?: string;
  labels?: Record<string, string>;
}

/** Recording and alert rules of prometheus/rules/*.yml. */
export function listRuleQueries(): StackQuery[] {
  const queries: StackQuery[] = [];
  for (const source of jsonFiles(RULES_DIR, '.yml')) {
    const doc = parseYaml(readFileSync(path.join(REPO_ROOT, source), 'utf8')) as {
      groups?: Array<{ name?: string; rules?: RawRule[] }>;
    };
    for (const group of doc.groups ?? []) {
      for (const rule of group.rules ?? []) {
        const expr = String(rule.expr ?? '').trim();
        const common = {
          source,
          expr,
          promql: expr,
          ...(rule.labels ? { labels: rule.labels } : {}),
        };
        if (rule.record !== undefined) {
          queries.push({ kind: 'recording', name: rule.record, record: rule.record, ...common });
        } else if (rule.alert !== undefined) {
          queries.push({
            kind: 'alert',
            name: rule.alert,
            alert: rule.alert,
            ...(rule.for !== undefined ? { for: rule.for } : {}),
            ...common,
          });
        }
      }
    }
  }
  return queries;
}

/**
 * Every dashboard query (panels, variables, annotations), every recording rule expression and
 * every alert expression of the stack.
 */
export function listStackQueries(options: ExpandOptions = {}): StackQuery[] {
  return [...listDashboardQueries(options), ...listRuleQueries()];
}
