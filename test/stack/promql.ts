/**
 * A small PromQL scanner: which metric names and label names does an expression use? Enough to
 * check dashboards and rules against dashboards/metrics.ts; parsing proper is left to
 * Prometheus (promtool check rules, and the live test).
 */

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'atan2',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
]);

const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;
const MATCHER_LABEL = /([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)/g;
const TOKEN = /[A-Za-z_:][A-Za-z0-9_:]*|\d[\w.]*/g;

export interface PromqlNames {
  /** Series names selected (metric names of vector selectors, recorded names included). */
  metrics: Set<string>;
  /** Label names used in matchers and in by/without/on/ignoring/group_x clauses. */
  labels: Set<string>;
}

/** Removes # comments and replaces every string literal by "" (so their content is ignored). */
function blankStringsAndComments(expr: string): string {
  let out = '';
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '#') {
      while (i < expr.length && expr[i] !== '\n') i++;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      const quote = c;
      i++;
      while (i < expr.length && expr[i] !== quote) i += expr[i] === '\\' && quote !== '`' ? 2 : 1;
      i++;
      out += '""';
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

function addLabelList(list: string, labels: Set<string>): void {
  for (const name of list.split(',')) {
    const trimmed = name.trim();
    if (trimmed !== '') labels.add(trimmed);
  }
}

/** The metric and label names an expression uses. Grafana variables may appear in strings. */
export function promqlNames(expr: string): PromqlNames {
  const metrics = new Set<string>();
  const labels = new Set<string>();
  let text = blankStringsAndComments(expr);

  text = text.replace(/\{([^}]*)\}/g, (_m, inner: string) => {
    for (const match of inner.matchAll(MATCHER_LABEL)) labels.add(match[1]!);
    return ' ';
  });
  text = text.replace(/\[[^\]]*\]/g, ' ');
  text = text.replace(GROUPING, (_m, _kw: string, list: string) => {
    addLabelList(list, labels);
    return ' ';
  });

  for (const match of text.matchAll(TOKEN)) {
    const token = match[0];
    if (/^\d/.test(token) || KEYWORDS.has(token.toLowerCase())) continue;
    const rest = text.slice(match.index + token.length);
    if (/^\s*\(/.test(rest)) continue; // a function or an aggregation
    metrics.add(token);
  }
  return { metrics, labels };
}

/**
 * A Grafana `label_values(selector, label)` variable query as the series selector Grafana
 * sends to Prometheus; other queries are returned unchanged.
 */
export function variableQueryToPromql(query: string): { selector: string; label?: string } {
  const match = /^\s*label_values\(\s*(.*?)\s*(?:,\s*([A-Za-z_][A-Za-z0-9_]*)\s*)?\)\s*$/s.exec(
    query,
  );
  if (match === null) return { selector: query };
  if (match[2] === undefined) {
    // label_values(label): no selector; any series with the label.
    return { selector: `{${match[1]}!=""}`, label: match[1]! };
  }
  return { selector: match[1]!, label: match[2] };
}
