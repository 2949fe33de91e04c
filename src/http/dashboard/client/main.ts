// The dashboard's browser code, compiled for the browser by esbuild (`npm run build`: one IIFE
// at dist/http/dashboard/client.js) and served inline under the page's nonce CSP. It shares
// the feed's types (../data.ts) and the reason words (../reasons.ts) with the server.
//
// It polls the data feed once a second (backing off while the service does not answer): a
// compact overview row per breaker first, then one detail tile per breaker, updated in place.
// Child breakers (a Redis Cluster's `redis_cache:<shard>`) get neither: their parent's row
// counts them by state, and its tile shows a strip of per-shard chips with a details table,
// so 3 or 16 shards stay one line of the overview.

import type {
  BreakerView,
  Counts,
  DashboardData,
  LatencyOutcome,
  RateAgainstThreshold,
} from '../data.js';
import { ADMIN_ACTION_LABELS, reasonLabel } from '../reasons.js';
import type { AdminActionRecord, TransitionRecord } from '../transition-history.js';
import {
  byId,
  clock,
  count,
  duration,
  el,
  niceCeil,
  percent,
  rate,
  safeId,
  span,
  svg,
} from './dom.js';

interface ClientConfig {
  dataUrl: string;
  pollMs: number;
}

type State = BreakerView['state'];
type Outcome = keyof Counts;

const config = JSON.parse(byId('bb-config').textContent ?? '{}') as ClientConfig;

const STATES: Record<State, { label: string; icon: string; help: string }> = {
  closed: { label: 'Closed', icon: '✓', help: 'calls go through' },
  open: { label: 'Open', icon: '✕', help: 'calls fail fast, the dependency is left alone' },
  half_open: { label: 'Half-open', icon: '◐', help: 'a few probe calls test recovery' },
};
const OUTCOMES: Array<{ key: Outcome; label: string; cls: string; dash: string }> = [
  { key: 'success', label: 'Success', cls: 'line-success', dash: '' },
  { key: 'failure', label: 'Failure', cls: 'line-failure', dash: '6 3' },
  { key: 'rejected', label: 'Rejected (fail-fast)', cls: 'line-rejected', dash: '1.5 3' },
  { key: 'ignored', label: 'Ignored error', cls: 'line-ignored', dash: '' },
];
const LATENCY_ROWS: Array<{ key: LatencyOutcome; label: string }> = [
  { key: 'success', label: 'Success' },
  { key: 'rejected', label: 'Rejected (fail-fast)' },
  { key: 'failure', label: 'Failure' },
];

interface Section {
  node: HTMLElement;
  heading: HTMLElement;
  body: HTMLElement;
}

interface ShardStrip {
  node: HTMLElement;
  summary: HTMLElement;
  chips: HTMLElement;
  rows: HTMLElement;
}

interface Tile {
  article: HTMLElement;
  head: HTMLElement;
  shards: ShardStrip | undefined;
  badges: HTMLElement;
  stateIcon: HTMLElement;
  stateLabel: HTMLElement;
  stateHelp: HTMLElement;
  since: HTMLElement;
  lastError: HTMLElement;
  timeline: Section;
  rates: Section;
  latency: Section;
  log: Section;
}

const tiles = new Map<string, Tile>();
const rows = new Map<string, HTMLTableRowElement>();
let paused = false;
let failures = 0;
let timer: ReturnType<typeof setTimeout> | undefined;
let lastAlertKey: string | null = null;
let lastConn: string | null = null;
let lastOkAt: number | null = null;

function stateInfo(v: Pick<BreakerView, 'state' | 'mode'>): {
  label: string;
  icon: string;
  help: string;
} {
  if (v.mode === 'isolated') {
    return {
      label: 'Open (forced)',
      icon: '⛔',
      help: 'forced open by an operator: every call fails fast until reset',
    };
  }
  if (v.mode === 'disabled') {
    return {
      label: 'Disabled',
      icon: '⏸',
      help: 'every call goes through and is measured, the breaker never trips',
    };
  }
  return STATES[v.state] ?? { label: v.state, icon: '?', help: '' };
}

/** A parent with children shows the exact roll-up of its shards, not its mirrored state. */
function shownState(v: BreakerView): Pick<BreakerView, 'state' | 'mode'> {
  if (v.shards === undefined) return v;
  return { state: v.shards.state, mode: v.mode === 'isolated' ? 'normal' : v.mode };
}

function stateWord(s: State): string {
  const info = STATES[s];
  return info ? `${info.icon} ${info.label}` : s;
}

function ago(at: string, now: number): string {
  return `${span((now - Date.parse(at)) / 1000)} ago`;
}

function lastErrorText(v: BreakerView, now: number): string {
  const f = v.last_failure;
  if (f === null) return 'No failure recorded';
  return `${f.error}: ${f.message} (${clock(Date.parse(f.at))}, ${ago(f.at, now)})`;
}

// ---------------------------------------------------------------------------------- overview

/** Calls/s and the rejected share over some breakers' headline rates (null: no rates yet). */
function callRates(views: BreakerView[]): { total: number; rejected: number | null } | null {
  let total: number | null = null;
  let rejected = 0;
  for (const v of views) {
    const current = v.rates.current;
    if (current === null) continue;
    total = (total ?? 0) + OUTCOMES.reduce((sum, o) => sum + current[o.key], 0);
    rejected += current.rejected;
  }
  return total === null ? null : { total, rejected: total === 0 ? null : rejected / total };
}

function renderOverview(
  top: BreakerView[],
  children: ReadonlyMap<string, BreakerView[]>,
  now: number,
): void {
  const body = byId('bb-overview-body');
  const seen = new Set<string>();
  for (const v of top) {
    seen.add(v.name);
    let row = rows.get(v.name);
    if (row === undefined) {
      row = el('tr', { 'data-breaker': v.name });
      rows.set(v.name, row);
      body.appendChild(row);
    }
    const shown = shownState(v);
    const info = stateInfo(shown);
    // A parent with shards guards no call itself: its row shows its shards' traffic.
    const mine = children.get(v.name);
    const calls = callRates(v.shards !== undefined && mine !== undefined ? mine : [v]);
    const total = calls?.total ?? null;
    const rejected = v.shards !== undefined ? (calls?.rejected ?? null) : v.rejection_share;
    row.setAttribute('data-state', shown.state);
    row.setAttribute('data-mode', shown.mode);
    row.replaceChildren(
      el('th', { scope: 'row' }, [
        el('a', { href: `#${safeId(v.name)}`, text: v.name }),
        v.critical ? el('span', { class: 'crit', title: 'critical', text: ' ★' }) : null,
        v.shards === undefined ? null : shardCounts(v.shards, 'ov-shards'),
      ]),
      el('td', { class: 'ov-state' }, [
        el('span', { class: `st st-${shown.state}`, text: `${info.icon} ${info.label}` }),
      ]),
      el('td', { class: 'num', text: span(v.time_in_state_seconds) }),
      el('td', { class: 'num', text: total === null ? '—' : `${rate(total)}/s` }),
      el('td', {
        class: 'num ov-rejected',
        text: rejected === null ? '—' : percent(rejected),
      }),
      el('td', {
        class: 'ov-error',
        title: v.last_failure?.message ?? '',
        text:
          v.last_failure === null
            ? '—'
            : `${v.last_failure.error}: ${v.last_failure.message} · ${ago(v.last_failure.at, now)}`,
      }),
    );
  }
  for (const [name, row] of rows) {
    if (!seen.has(name)) {
      row.remove();
      rows.delete(name);
    }
  }
}

// ---------------------------------------------------------------------------------- shards

/** "3 shards: ✓ 2 ✕ 1": the children of a parent, counted by state. */
function shardCounts(summary: NonNullable<BreakerView['shards']>, cls: string): HTMLElement {
  const parts: HTMLElement[] = [];
  for (const [state, n] of [
    ['closed', summary.closed],
    ['half_open', summary.half_open],
    ['open', summary.open],
  ] as Array<[State, number]>) {
    if (n === 0) continue;
    parts.push(
      el('span', {
        class: `st st-${state}`,
        'data-count': state,
        title: `${n} ${STATES[state].label.toLowerCase()}`,
        text: ` ${STATES[state].icon} ${n}`,
      }),
    );
  }
  return el('span', { class: cls, 'data-role': 'shard-counts' }, [
    `${summary.total} shard${summary.total === 1 ? '' : 's'}:`,
    ...parts,
  ]);
}

function createShardStrip(id: string): ShardStrip {
  const summary = el('p', { class: 'shard-summary' });
  const chips = el('ul', { class: 'shard-chips', 'aria-label': 'Shard breakers by state' });
  const rows = el('tbody');
  const table = el('table', { class: 'shard-table' }, [
    el('caption', { class: 'visually-hidden', text: 'One row per shard breaker' }),
    el(
      'thead',
      null,
      el(
        'tr',
        null,
        ['Shard', 'State', 'Master', 'Slots', 'In state', 'Calls', 'Rejected', 'Last error'].map(
          (h, i) => el('th', { scope: 'col', class: i >= 3 && i <= 6 ? 'num' : null, text: h }),
        ),
      ),
    ),
    rows,
  ]);
  // Kept across updates, so an operator's open/closed choice survives the next poll.
  const details = el('details', { class: 'shard-details' }, [
    el('summary', { text: 'Per-shard details' }),
    el('div', { class: 'table-wrap' }, table),
  ]);
  const node = el('section', { class: 'shards', 'aria-labelledby': `${id}-shards-h` }, [
    el('h3', { id: `${id}-shards-h`, text: 'Shards' }),
    summary,
    chips,
    details,
  ]);
  return { node, summary, chips, rows };
}

// The shards of a parent: counts, one chip per shard (state icon and id), a details table.
function renderShards(t: Tile, v: BreakerView, children: BreakerView[], now: number): void {
  const summary = v.shards;
  if (summary === undefined) {
    t.shards?.node.remove();
    t.shards = undefined;
    return;
  }
  if (t.shards === undefined) {
    t.shards = createShardStrip(safeId(v.name));
    t.head.appendChild(t.shards.node);
  }
  const strip = t.shards;
  const calls = callRates(children);
  strip.summary.replaceChildren(
    shardCounts(summary, 'shard-counts'),
    calls === null ? '' : ` · ${rate(calls.total)} calls/s across shards`,
    summary.not_closed.length === 0
      ? ' · all closed'
      : el('span', {
          class: 'shard-bad',
          text: ` · not closed: ${summary.not_closed.join(', ')}`,
        }),
  );
  strip.chips.replaceChildren(
    ...children.map((c) => {
      const info = stateInfo(c);
      return el(
        'li',
        {
          class: 'chip',
          'data-breaker': c.name,
          'data-state': c.state,
          'data-mode': c.mode,
          title: `${c.name}: ${info.label}, master ${c.master ?? '?'}, ${count(c.slots ?? 0)} slots, ${span(c.time_in_state_seconds)} in this state`,
        },
        [
          el('span', { class: 'chip-icon', 'aria-hidden': 'true', text: info.icon }),
          el('span', { class: 'chip-id', text: String(c.shard ?? c.name) }),
          el('span', { class: 'visually-hidden', text: ` ${info.label}` }),
        ],
      );
    }),
  );
  strip.rows.replaceChildren(
    ...children.map((c) => {
      const info = stateInfo(c);
      const current = c.rates.current;
      const total = current === null ? null : OUTCOMES.reduce((n, o) => n + current[o.key], 0);
      return el('tr', { 'data-breaker': c.name, 'data-state': c.state }, [
        el('th', { scope: 'row', text: c.name }),
        el(
          'td',
          null,
          el('span', { class: `st st-${c.state}`, text: `${info.icon} ${info.label}` }),
        ),
        el('td', { text: c.master ?? '—' }),
        el('td', { class: 'num', text: count(c.slots ?? 0) }),
        el('td', { class: 'num', text: span(c.time_in_state_seconds) }),
        el('td', { class: 'num', text: total === null ? '—' : `${rate(total)}/s` }),
        el('td', {
          class: 'num',
          text: c.rejection_share === null ? '—' : percent(c.rejection_share),
        }),
        el('td', {
          class: 'ov-error',
          text:
            c.last_failure === null
              ? '—'
              : `${c.last_failure.error}: ${c.last_failure.message} · ${ago(c.last_failure.at, now)}`,
        }),
      ]);
    }),
  );
}

// ---------------------------------------------------------------------------------- tiles

function section(id: string, title: string): Section {
  const heading = el('h3', { id, text: title });
  const body = el('div', { class: 'section-body' });
  const node = el('section', { class: 'panel', 'aria-labelledby': id }, [heading, body]);
  return { node, heading, body };
}

function createTile(name: string): Tile {
  const id = safeId(name);
  const title = el('h2', { id: `${id}-h`, text: name });
  const badges = el('p', { class: 'badges' });
  const stateIcon = el('span', { class: 'state-icon', 'aria-hidden': 'true' });
  const stateLabel = el('strong', { class: 'state-label' });
  const stateHelp = el('span', { class: 'state-help' });
  const stateLine = el('p', { class: 'state', 'data-role': 'state' }, [
    stateIcon,
    ' ',
    el('span', { class: 'visually-hidden', text: 'State: ' }),
    stateLabel,
    stateHelp,
  ]);
  const since = el('p', { class: 'since' });
  const lastError = el('p', { class: 'last-error' });
  const head = el('header', { class: 'tile-head' }, [
    el('div', { class: 'title-row' }, [title, badges]),
    stateLine,
    since,
    lastError,
  ]);
  const timeline = section(`${id}-timeline`, 'Timeline');
  const rates = section(`${id}-rates`, 'Calls per second');
  const latency = section(`${id}-latency`, 'Latency: fail-fast vs success');
  const log = section(`${id}-log`, 'Failure rate and log noise');
  const article = el(
    'article',
    { class: 'tile', id, 'data-breaker': name, 'aria-labelledby': `${id}-h` },
    [head, el('div', { class: 'panels' }, [timeline.node, rates.node, latency.node, log.node])],
  );
  return {
    article,
    head,
    shards: undefined,
    badges,
    stateIcon,
    stateLabel,
    stateHelp,
    since,
    lastError,
    timeline,
    rates,
    latency,
    log,
  };
}

function updateTile(
  t: Tile,
  v: BreakerView,
  children: BreakerView[],
  data: DashboardData,
  now: number,
): void {
  const shown = shownState(v);
  const info = stateInfo(shown);
  t.article.setAttribute('data-state', shown.state);
  t.article.setAttribute('data-mode', shown.mode);
  t.article.setAttribute('data-critical', v.critical ? 'true' : 'false');
  t.stateIcon.textContent = info.icon;
  t.stateLabel.textContent = info.label;
  t.stateHelp.textContent = ` — ${info.help}`;
  t.badges.replaceChildren(
    v.critical
      ? el(
          'span',
          { class: 'badge badge-critical', title: 'While open, /health/ready answers 503' },
          [el('span', { 'aria-hidden': 'true', text: '★ ' }), 'Critical'],
        )
      : el('span', { class: 'badge', text: 'Not critical' }),
    el('span', { class: 'badge badge-mode', text: `Mode: ${shown.mode}` }),
  );

  const parts = [`In this state for ${span(v.time_in_state_seconds)}`];
  if (v.shards !== undefined) {
    // The cache as a whole: its own state is the roll-up, the calls are the shards'.
    t.stateHelp.textContent = ` — ${v.shards.reason}`;
    parts.push(`calls go through its ${count(v.shards.total)} shard breakers (below)`);
  } else if (v.state === 'open' && v.retry_after_seconds !== null) {
    parts.push(
      v.retry_after_seconds > 0.5
        ? `next probe in ${span(v.retry_after_seconds)}`
        : 'next call is a probe',
    );
  }
  if (v.shards === undefined && v.state === 'half_open') {
    const n = v.config.half_open_max_calls;
    parts.push(`up to ${n} probe call${n === 1 ? '' : 's'}`);
  }
  if (v.shards === undefined && v.state === 'closed' && v.config.failure_threshold !== null) {
    parts.push(`${v.failure_count} of ${v.config.failure_threshold} consecutive failures`);
  }
  parts.push(`opened ${count(v.opened_count)} ${v.opened_count === 1 ? 'time' : 'times'}`);
  t.since.textContent = parts.join(' · ');
  t.lastError.replaceChildren(
    el('span', { class: 'label', text: 'Last error: ' }),
    el('span', { class: 'last-error-text', text: lastErrorText(v, now) }),
  );
  t.lastError.setAttribute('data-present', v.last_failure === null ? 'false' : 'true');

  renderShards(t, v, children, now);
  renderTimeline(t, v, data, now);
  renderRates(t, v, now);
  renderLatency(t, v);
  renderRatesAgainstThresholds(t, v);
}

/**
 * A parent with shards is held in line with their roll-up through its manual controls, so
 * its isolate/reset transitions are the roll-up's, not an operator's (those are listed as
 * admin actions).
 */
function transitionReason(v: BreakerView, reason: string): string {
  if (v.shards !== undefined && (reason === 'manual_open' || reason === 'manual_reset')) {
    return reason === 'manual_open' ? 'no shard closed (roll-up)' : 'a shard closed (roll-up)';
  }
  return reasonLabel(reason);
}

type TimelineEntry =
  | { kind: 'transition'; at: number; record: TransitionRecord }
  | { kind: 'admin'; at: number; record: AdminActionRecord };

// Timeline: a band of states over the recent span the server keeps, then a list.
function renderTimeline(t: Tile, v: BreakerView, data: DashboardData, now: number): void {
  const started = Date.parse(data.started_at);
  const spanMs = Math.min(data.history_seconds * 1000, Math.max(30_000, now - started));
  const start = now - spanMs;
  const mine = data.transitions.filter((r) => r.breaker === v.name);
  const admin = data.admin_actions.filter((a) => a.breaker === v.name);
  let state: State = v.state;
  const before = mine.filter((r) => Date.parse(r.at) <= start);
  const after = mine.filter((r) => Date.parse(r.at) > start);
  if (before.length > 0) state = before[before.length - 1]!.to;
  else if (after.length > 0) state = after[0]!.from;

  let from = Math.max(start, started);
  const segments: Array<{ from: number; to: number; state: State }> = [];
  for (const r of after) {
    const at = Math.min(Date.parse(r.at), now);
    if (at > from) segments.push({ from, to: at, state });
    state = r.to;
    from = Math.max(from, at);
  }
  if (now > from) segments.push({ from, to: now, state });

  const pct = (ms: number): string =>
    `${(Math.max(0, Math.min(1, (ms - start) / spanMs)) * 100).toFixed(3)}%`;
  const band = svg('svg', {
    class: 'timeline-band',
    role: 'img',
    'aria-label': `State over the last ${span(spanMs / 1000)}: ${
      after.length === 0
        ? 'no transitions'
        : `${after.length} transition${after.length === 1 ? '' : 's'}`
    }, listed below`,
    preserveAspectRatio: 'none',
  });
  // Half-open often lasts only as long as one probe: keep it visible (drawn last, on top).
  segments.sort((a, b) => Number(a.state === 'half_open') - Number(b.state === 'half_open'));
  for (const s of segments) {
    let w = Math.max(0, (s.to - s.from) / spanMs) * 100;
    if (s.state === 'half_open') w = Math.max(w, 0.8);
    band.appendChild(
      svg(
        'rect',
        {
          class: `seg seg-${s.state}`,
          x: pct(s.from),
          y: 0,
          width: `${w.toFixed(3)}%`,
          height: '100%',
        },
        svg('title', {
          text: `${STATES[s.state].label} from ${clock(s.from)} to ${clock(s.to)}`,
        }),
      ),
    );
  }
  for (const r of after) {
    const x = pct(Date.parse(r.at));
    band.appendChild(svg('line', { class: 'tick', x1: x, x2: x, y1: 0, y2: '100%' }));
  }
  for (const a of admin) {
    const at = Date.parse(a.at);
    if (at <= start) continue;
    const x = pct(at);
    band.appendChild(
      svg('line', { class: 'tick tick-admin', x1: x, x2: x, y1: 0, y2: '100%' }, [
        svg('title', { text: `${ADMIN_ACTION_LABELS[a.action] ?? a.action} at ${clock(at)}` }),
      ]),
    );
  }
  const axis = el('div', { class: 'axis', 'aria-hidden': 'true' }, [
    el('span', { text: `−${span(spanMs / 1000)}` }),
    el('span', { text: 'now' }),
  ]);
  const legend = el(
    'ul',
    { class: 'legend', 'aria-label': 'Timeline legend' },
    (['closed', 'half_open', 'open'] as State[])
      .map((s) =>
        el('li', null, [
          svg('svg', { class: 'swatch', width: 18, height: 12, 'aria-hidden': 'true' }, [
            svg('rect', { class: `seg seg-${s}`, width: 18, height: 12 }),
          ]),
          ` ${stateWord(s)}`,
        ]),
      )
      .concat(
        admin.length === 0
          ? []
          : [
              el('li', null, [
                svg('svg', { class: 'swatch', width: 18, height: 12, 'aria-hidden': 'true' }, [
                  svg('line', { class: 'tick-admin', x1: 9, x2: 9, y1: 0, y2: 12 }),
                ]),
                ' ⚙ admin action',
              ]),
            ],
      ),
  );

  const entries: TimelineEntry[] = [
    ...mine.map((record): TimelineEntry => ({
      kind: 'transition',
      at: Date.parse(record.at),
      record,
    })),
    ...admin.map((record): TimelineEntry => ({ kind: 'admin', at: Date.parse(record.at), record })),
  ].sort((a, b) => a.at - b.at);
  const recent = entries.slice(-8).reverse();
  const list =
    recent.length === 0
      ? el('p', {
          class: 'muted',
          text: `No transitions yet: ${STATES[v.state].label.toLowerCase()} since the service started.`,
        })
      : el(
          'ol',
          {
            class: 'transitions',
            'aria-label': 'Recent transitions and admin actions, newest first',
          },
          recent.map((entry) => {
            const time = el('time', {
              datetime: new Date(entry.at).toISOString(),
              text: clock(entry.at),
            });
            if (entry.kind === 'admin') {
              return el('li', { class: 'admin-action', 'data-action': entry.record.action }, [
                time,
                ' ',
                el('span', {
                  class: 'admin',
                  text: `⚙ ${ADMIN_ACTION_LABELS[entry.record.action] ?? `admin: ${entry.record.action}`}`,
                }),
              ]);
            }
            const r = entry.record;
            return el('li', null, [
              time,
              ' ',
              el('span', { class: 'change' }, [
                el('span', { class: `st st-${r.from}`, text: stateWord(r.from) }),
                el('span', { 'aria-hidden': 'true', text: ' → ' }),
                el('span', { class: 'visually-hidden', text: ' to ' }),
                el('span', { class: `st st-${r.to}`, text: stateWord(r.to) }),
              ]),
              ' ',
              el('span', { class: 'reason', text: transitionReason(v, r.reason) }),
            ]);
          }),
        );
  t.timeline.body.replaceChildren(band, axis, legend, list);
}

// Calls per second: the headline over the last seconds, and a chart of the retained history
// with a y-axis, where intervals nobody sampled are drawn as gaps, not joined.
function renderRates(t: Tile, v: BreakerView, now: number): void {
  const current = v.rates.current;
  const dl = el(
    'dl',
    { class: 'rates' },
    OUTCOMES.map((o) =>
      el('div', { class: `rate rate-${o.key}` }, [
        el('dt', null, [
          svg('svg', { class: 'swatch', width: 22, height: 10, 'aria-hidden': 'true' }, [
            svg('line', {
              class: o.cls,
              x1: 1,
              x2: 21,
              y1: 5,
              y2: 5,
              'stroke-dasharray': o.dash || null,
            }),
          ]),
          ` ${o.label}`,
        ]),
        el('dd', null, [
          el('span', { class: 'num', text: current ? rate(current[o.key]) : '—' }),
          el('span', { class: 'unit', text: '/s' }),
          el('span', { class: 'lifetime', text: `${count(v.calls[o.key])} total` }),
        ]),
      ]),
    ),
  );

  const series = v.rates.series;
  const windowMs = Math.min(
    120_000,
    Math.max(30_000, series.length > 0 ? now - series[0]!.from : 0),
  );
  const windowStart = now - windowMs;
  const points = series.filter((p) => p.t >= windowStart);
  // The axis covers every number shown beside it: the points and the headline rates.
  let peak = 0;
  for (const p of points) for (const o of OUTCOMES) peak = Math.max(peak, p[o.key]);
  let shownMax = peak;
  if (current) for (const o of OUTCOMES) shownMax = Math.max(shownMax, current[o.key]);
  const top = niceCeil(shownMax);
  const W = 1000;
  const H = 100;
  const x = (ms: number): number => Math.max(0, Math.min(1, (ms - windowStart) / windowMs)) * W;
  const y = (r: number): number => H - (r / top) * (H - 4) - 2;

  // Contiguous runs of points; anything between runs (or before the first) had no samples.
  const runs: Array<typeof points> = [];
  for (const p of points) {
    const run = runs[runs.length - 1];
    const prev = run?.[run.length - 1];
    if (run !== undefined && prev !== undefined && p.from - prev.t < 50) run.push(p);
    else runs.push([p]);
  }
  const gaps: Array<{ from: number; to: number }> = [];
  for (let i = 1; i < runs.length; i++) {
    const prevRun = runs[i - 1]!;
    gaps.push({ from: prevRun[prevRun.length - 1]!.t, to: runs[i]![0]!.from });
  }

  const chart = svg('svg', {
    class: 'spark',
    viewBox: `0 0 ${W} ${H}`,
    preserveAspectRatio: 'none',
    role: 'img',
    'aria-label':
      points.length === 0
        ? 'Calls per second: collecting data'
        : `Calls per second over the last ${span(windowMs / 1000)}, axis 0 to ${rate(top)} per second, peak ${rate(peak)}${
            gaps.length === 0
              ? ''
              : `, ${gaps.length} gap${gaps.length === 1 ? '' : 's'} without samples`
          }`,
  });
  for (const frac of [0.5, 1]) {
    chart.appendChild(
      svg('line', { class: 'gridline', x1: 0, x2: W, y1: y(top * frac), y2: y(top * frac) }),
    );
  }
  chart.appendChild(svg('line', { class: 'baseline', x1: 0, x2: W, y1: H - 0.5, y2: H - 0.5 }));
  for (const g of gaps) {
    chart.appendChild(
      svg(
        'rect',
        { class: 'gap', x: x(g.from), y: 0, width: Math.max(1, x(g.to) - x(g.from)), height: H },
        [
          svg('title', {
            text: `No samples from ${clock(g.from)} to ${clock(g.to)}: nobody was watching`,
          }),
        ],
      ),
    );
  }
  for (const o of OUTCOMES) {
    if (!points.some((p) => p[o.key] > 0)) continue;
    for (const run of runs) {
      // Each point is the rate over [from, t]: draw it as a step over its interval.
      const coords: string[] = [];
      for (const p of run) {
        coords.push(`${x(p.from).toFixed(1)},${y(p[o.key]).toFixed(1)}`);
        coords.push(`${x(p.t).toFixed(1)},${y(p[o.key]).toFixed(1)}`);
      }
      chart.appendChild(
        svg('polyline', {
          class: `series ${o.cls}`,
          'data-outcome': o.key,
          points: coords.join(' '),
          'stroke-dasharray': o.dash || null,
          'vector-effect': 'non-scaling-stroke',
        }),
      );
    }
  }
  const plot = el('div', { class: 'plot' }, [
    el('div', { class: 'y-axis', 'aria-hidden': 'true' }, [
      el('span', { class: 'y-top', text: `${rate(top)}/s` }),
      el('span', { text: `${rate(top / 2)}` }),
      el('span', { text: '0' }),
    ]),
    chart,
  ]);
  const axis = el('div', { class: 'axis x-axis', 'aria-hidden': 'true' }, [
    el('span', { text: `−${span(windowMs / 1000)}` }),
    el('span', { text: `peak ${rate(peak)}/s` }),
    el('span', { text: 'now' }),
  ]);
  const note = el('p', {
    class: 'muted small',
    text: current
      ? `Headline: average of the last ${span(v.rates.seconds ?? 0)}. Chart: one step per sample; hatched = no samples (nobody was watching).`
      : 'Rates appear after the second update.',
  });
  const parentNote =
    v.shards === undefined
      ? null
      : el('p', {
          class: 'muted small shard-note',
          text: `${v.name} guards no call itself: the calls go through its shard breakers, counted under Shards above.`,
        });
  t.rates.body.replaceChildren(dl, plot, axis, note, ...(parentNote === null ? [] : [parentNote]));
}

// Latency: p50/p99 per outcome from histogram deltas; bars on a log scale (1 µs – 10 s).
function renderLatency(t: Tile, v: BreakerView): void {
  const lat = v.latency;
  const windowed = lat.basis === 'window';
  t.latency.heading.textContent = `Latency: fail-fast vs success${
    windowed ? `, last ${span(lat.seconds ?? 0)}` : ', since start'
  }`;
  const scale = (s: number | null): number => {
    if (s === null) return 0;
    const x = (Math.log10(Math.max(s, 1e-6)) + 6) / 7;
    return Math.max(0.01, Math.min(1, x));
  };
  const tableRows = LATENCY_ROWS.map((r) => {
    const w = lat.window[r.key];
    const l = lat.lifetime[r.key];
    const bar = el('span', { class: `bar bar-${r.key}` });
    bar.style.width = `${(scale(w.p99) * 100).toFixed(1)}%`;
    const mid = el('span', { class: 'bar-p50' });
    mid.style.left = `${(scale(w.p50) * 100).toFixed(1)}%`;
    const callsCell =
      count(w.count) + (windowed && l.count !== w.count ? ` (${count(l.count)} total)` : '');
    return el('tr', { 'data-outcome': r.key }, [
      el('th', { scope: 'row', text: r.label }),
      el('td', { class: 'num', text: duration(w.p50) }),
      el('td', { class: 'num', text: duration(w.p99) }),
      el('td', { class: 'num', text: callsCell }),
      el(
        'td',
        { class: 'bar-cell', 'aria-hidden': 'true' },
        w.count > 0 ? el('span', { class: 'bar-track' }, [bar, mid]) : null,
      ),
    ]);
  });
  const table = el('table', { class: 'latency' }, [
    el('caption', {
      class: 'visually-hidden',
      text: `Call duration by outcome${windowed ? ` over the last ${span(lat.seconds ?? 0)}` : ' since start'}`,
    }),
    el(
      'thead',
      null,
      el('tr', null, [
        el('th', { scope: 'col', text: 'Outcome' }),
        el('th', { scope: 'col', class: 'num', text: 'p50' }),
        el('th', { scope: 'col', class: 'num', text: 'p99' }),
        el('th', { scope: 'col', class: 'num', text: 'Calls' }),
        el('th', {
          scope: 'col',
          class: 'bar-cell',
          'aria-hidden': 'true',
          text: 'p99 (log scale)',
        }),
      ]),
    ),
    el('tbody', null, tableRows),
  ]);

  const pick = (key: LatencyOutcome) =>
    lat.window[key].count > 0
      ? { s: lat.window[key], when: windowed ? 'recent' : 'since start' }
      : lat.lifetime[key].count > 0
        ? { s: lat.lifetime[key], when: 'since start' }
        : null;
  const ok = pick('success');
  const rej = pick('rejected');
  let text: string;
  if (rej && ok && rej.s.p50 !== null && ok.s.p50 !== null && rej.s.p50 > 0) {
    const ratio = ok.s.p50 / rej.s.p50;
    text = `A rejected call answers in ${duration(rej.s.p50)} (p50, ${rej.when}), ${
      ratio >= 1.5
        ? `${Math.round(ratio).toLocaleString('en-US')}× faster than`
        : 'about as fast as'
    } a successful call (${duration(ok.s.p50)}).`;
  } else if (rej) {
    text = `Rejected calls answer in ${duration(rej.s.p50)} (p50) without touching the dependency.`;
  } else {
    text = 'No call has been rejected yet: fail-fast latency appears once the circuit opens.';
  }
  const note = el('p', {
    class: 'muted small',
    text: `${
      windowed
        ? 'Estimated from the duration histograms’ bucket deltas over the window.'
        : 'Estimated from the lifetime duration histograms until a whole minute is sampled.'
    } Bars: p99 on a log scale from 1 µs to 10 s; the tick marks p50.`,
  });
  t.latency.body.replaceChildren(
    el('p', { class: 'compare', text }),
    el('div', { class: 'table-wrap' }, table),
    note,
  );
}

function thresholdMeter(label: string, cls: string, r: RateAgainstThreshold): HTMLElement {
  const bar = el('span', { class: `bar ${cls}` });
  bar.style.width = `${(Math.min(1, r.rate) * 100).toFixed(1)}%`;
  const mark = el('span', { class: 'threshold-mark', title: `opens at ${percent(r.threshold)}` });
  mark.style.left = `${(Math.min(1, r.threshold) * 100).toFixed(1)}%`;
  const enough = r.minimum_calls === null || r.calls >= r.minimum_calls;
  return el('div', { class: 'meter', 'data-meter': cls }, [
    el('p', { class: 'big' }, [
      el('strong', { class: 'num', text: percent(r.rate) }),
      ` ${label} · opens at ${percent(r.threshold)}`,
    ]),
    el('span', { class: 'bar-track wide', 'aria-hidden': 'true' }, [bar, mark]),
    el('p', {
      class: 'muted small',
      text: `${count(r.calls)} calls in the ${r.window ?? ''} window${
        enough ? '' : ` (needs ${count(r.minimum_calls ?? 0)} before it can open)`
      }.`,
    }),
  ]);
}

function renderRatesAgainstThresholds(t: Tile, v: BreakerView): void {
  const nodes: HTMLElement[] = [];
  if (v.failure_rate !== null)
    nodes.push(thresholdMeter('failure rate', 'bar-failure', v.failure_rate));
  else if (v.config.failure_threshold !== null) {
    nodes.push(
      el('p', {
        class: 'big',
        text: `${v.failure_count} of ${v.config.failure_threshold} consecutive failures`,
      }),
    );
  }
  if (v.slow_call_rate !== null)
    nodes.push(thresholdMeter('slow calls', 'bar-rejected', v.slow_call_rate));
  const log = v.log;
  if (log.noise_reduction === null) {
    nodes.push(el('p', { class: 'muted', text: 'Log noise: nothing to suppress yet.' }));
  } else {
    const bar = el('span', { class: 'bar bar-log' });
    bar.style.width = `${(log.noise_reduction * 100).toFixed(1)}%`;
    nodes.push(
      el('p', { class: 'big' }, [
        el('strong', { class: 'num', text: percent(log.noise_reduction) }),
        ' fewer log lines',
      ]),
      el('span', { class: 'bar-track wide', 'aria-hidden': 'true' }, bar),
      el('p', {
        class: 'muted small',
        text: `${count(log.emitted)} line${log.emitted === 1 ? '' : 's'} written (state changes and periodic summaries); ${count(log.suppressed)} failures and rejections counted instead of logged one by one.`,
      }),
    );
  }
  t.log.body.replaceChildren(...nodes);
}

// ---------------------------------------------------------------------------------- page

function renderAlerts(data: DashboardData): void {
  const names = data.critical_open.slice().sort();
  const key = names.join(',');
  if (key === lastAlertKey) return;
  lastAlertKey = key;
  const region = byId('bb-alerts');
  if (names.length === 0) {
    region.replaceChildren();
    return;
  }
  region.replaceChildren(
    el('div', { id: 'critical-banner', class: 'banner' }, [
      el('span', { class: 'banner-icon', 'aria-hidden': 'true', text: '⚠' }),
      el('div', null, [
        el('p', { class: 'banner-title' }, [
          el(
            'strong',
            null,
            ['Critical circuit open: ' as string | HTMLElement].concat(
              names.map((n, i) =>
                el('a', { href: `#${safeId(n)}`, text: n + (i < names.length - 1 ? ', ' : '') }),
              ),
            ),
          ),
        ]),
        el('p', {
          text: `Requests that need ${names.length === 1 ? 'it' : 'them'} fail fast with HTTP 503, and /health/ready reports not ready until the circuit closes.`,
        }),
      ]),
    ]),
  );
}

/** "redis_cache open", or for a parent with shards "redis_cache: 1 of 3 shards not closed". */
function problemOf(v: BreakerView): string | null {
  const shown = shownState(v);
  if (v.shards !== undefined && shown.state === 'closed') {
    const n = v.shards.not_closed.length;
    return n === 0 ? null : `${v.name}: ${n} of ${v.shards.total} shards not closed`;
  }
  return shown.state === 'closed' ? null : `${v.name} ${stateInfo(shown).label.toLowerCase()}`;
}

function renderSummary(data: DashboardData, top: BreakerView[]): void {
  const summary = byId('bb-summary');
  summary.setAttribute('data-health', data.severity);
  const downDeps = Object.entries(data.dependencies).filter(
    ([, d]) => d.status === 'down' || d.status === 'degraded',
  );
  const breakerProblems = (views: BreakerView[]): string[] =>
    views.map(problemOf).filter((p): p is string => p !== null);
  const problems = [...breakerProblems(top), ...downDeps.map(([name, d]) => `${name} ${d.status}`)];
  if (data.severity === 'critical') {
    const others = [
      ...breakerProblems(top.filter((v) => !data.critical_open.includes(v.name))),
      ...downDeps.map(([name, d]) => `${name} ${d.status}`),
    ];
    summary.textContent = `✕ Critical: ${data.critical_open.join(', ')} open, not ready (503)${
      others.length > 0 ? ` · also ${others.join(', ')}` : ''
    }`;
  } else if (data.severity === 'degraded') {
    summary.textContent = `⚠ Degraded: ${problems.join(', ')}`;
  } else {
    const shards = top.reduce((n, v) => n + (v.shards?.total ?? 0), 0);
    summary.textContent = `✓ Healthy: all ${top.length} circuits closed${
      shards > 0 ? ` (and ${shards} shards)` : ''
    }`;
  }
  summary.title = downDeps.map(([name, d]) => `${name}: ${d.reason}`).join('\n');
  document.title = `${
    data.severity === 'critical'
      ? '⚠ Critical circuit open — '
      : data.severity === 'degraded'
        ? 'Degraded — '
        : ''
  }breakerbox dashboard`;
  const deps = byId('bb-deps');
  deps.replaceChildren(
    ...downDeps.map(([name, d]) =>
      el('li', { 'data-dependency': name, 'data-status': d.status }, [
        el('strong', { text: `${name} ${d.status}: ` }),
        d.reason,
      ]),
    ),
  );
}

function render(data: DashboardData): void {
  const now = Date.parse(data.generated_at);
  const container = byId('bb-tiles');
  // Children (shard breakers) are shown inside their parent's tile, not as tiles of their own.
  const names = new Set(data.breakers.map((v) => v.name));
  const top: BreakerView[] = [];
  const children = new Map<string, BreakerView[]>();
  for (const v of data.breakers) {
    if (v.parent === undefined || !names.has(v.parent)) {
      top.push(v);
      continue;
    }
    const list = children.get(v.parent) ?? [];
    list.push(v);
    children.set(v.parent, list);
  }
  for (const list of children.values()) list.sort((a, b) => (a.shard ?? 0) - (b.shard ?? 0));
  const seen = new Set<string>();
  for (const v of top) {
    seen.add(v.name);
    let t = tiles.get(v.name);
    if (!t) {
      t = createTile(v.name);
      tiles.set(v.name, t);
      container.appendChild(t.article);
    }
    updateTile(t, v, children.get(v.name) ?? [], data, now);
  }
  for (const [name, t] of tiles) {
    if (!seen.has(name)) {
      t.article.remove();
      tiles.delete(name);
    }
  }
  if (data.breakers.length === 0) {
    container.replaceChildren(
      el('p', { class: 'muted', text: 'No circuit breakers are registered.' }),
    );
  } else {
    container.querySelector(':scope > p')?.remove();
  }
  renderOverview(top, children, now);
  renderSummary(data, top);
  renderAlerts(data);
  byId('bb-updated').textContent = `Updated ${clock(now)}`;
}

function setConnection(ok: boolean): void {
  const state = ok ? 'live' : 'lost';
  document.body.setAttribute('data-connection', state);
  if (state === lastConn) return;
  lastConn = state;
  byId('bb-conn').textContent = ok
    ? '● Live'
    : `○ Connection lost, retrying${lastOkAt ? ` (data from ${clock(lastOkAt)} may be stale)` : ''}`;
}

function schedule(): void {
  clearTimeout(timer);
  if (paused) return;
  const delay = failures === 0 ? config.pollMs : Math.min(10_000, config.pollMs * 2 ** failures);
  timer = setTimeout(poll, delay);
}

function poll(): void {
  const controller = new AbortController();
  const abort = setTimeout(() => controller.abort(), 5_000);
  fetch(config.dataUrl, {
    cache: 'no-store',
    headers: { accept: 'application/json' },
    signal: controller.signal,
  })
    .then((res) => {
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return res.json() as Promise<DashboardData>;
    })
    .then((data) => {
      failures = 0;
      lastOkAt = Date.now();
      setConnection(true);
      render(data);
    })
    .catch(() => {
      failures++;
      setConnection(false);
    })
    .then(() => {
      clearTimeout(abort);
      schedule();
    });
}

const pause = byId<HTMLButtonElement>('bb-pause');
pause.addEventListener('click', () => {
  paused = !paused;
  pause.setAttribute('aria-pressed', paused ? 'true' : 'false');
  pause.textContent = paused ? 'Resume updates' : 'Pause updates';
  if (paused) {
    clearTimeout(timer);
    byId('bb-conn').textContent = '❚❚ Paused';
    lastConn = 'paused';
  } else {
    poll();
  }
});

poll();
