// The dashboard's HTML shell: inline CSS and script (nonce'd under a strict CSP), no external
// assets, so the page works offline and cannot fetch anything but the service itself.

import { clientScript } from './client-bundle.js';

export interface PageOptions {
  /** CSP nonce for the inline style and script. */
  nonce: string;
  /** Absolute path of the JSON feed, e.g. /dashboard/data. */
  dataUrl: string;
  /** Absolute path of the SVG icon. */
  iconUrl: string;
  /** Where /health lives, for the footer link. */
  healthUrl: string;
  pollMs: number;
}

const STYLE = `
:root {
  --bg: #f6f8fa; --panel: #ffffff; --fg: #1f2328; --muted: #59636e; --border: #d1d9e0;
  --ok: #1a7f37; --ok-bg: #dafbe1; --bad: #cf222e; --bad-bg: #ffebe9;
  --warn: #9a6700; --warn-bg: #fff8c5; --accent: #0969da; --neutral: #6e7781;
  color-scheme: light dark;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 16px;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --panel: #151b23; --fg: #e6edf3; --muted: #9198a1; --border: #3d444d;
    --ok: #3fb950; --ok-bg: #12261e; --bad: #ff7b72; --bad-bg: #2d1215;
    --warn: #d29922; --warn-bg: #2e2412; --accent: #4493f8; --neutral: #9198a1;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.45; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.visually-hidden {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
.skip { position: absolute; left: -999px; top: 0; background: var(--panel); padding: .5rem 1rem; z-index: 2; }
.skip:focus { left: .5rem; }
.page-head {
  display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between;
  gap: .5rem 1.5rem; padding: .9rem clamp(.75rem, 3vw, 2rem);
  background: var(--panel); border-bottom: 1px solid var(--border);
}
h1 { font-size: 1.3rem; margin: 0; letter-spacing: -.01em; }
h1 .sub { font-weight: 400; color: var(--muted); }
.summary { margin: 0; font-weight: 600; }
.summary[data-health="healthy"] { color: var(--ok); }
.summary[data-health="degraded"] { color: var(--warn); }
.summary[data-health="critical"] { color: var(--bad); }
.deps { list-style: none; margin: 0 0 1rem; padding: 0; font-size: .9rem; }
.deps:empty { display: none; }
.deps li { padding: .35rem .7rem; border-left: .35rem solid var(--warn); background: var(--warn-bg); border-radius: .3rem; margin-top: .3rem; overflow-wrap: anywhere; }
.deps li[data-status="down"] { border-left-color: var(--bad); background: var(--bad-bg); }
.overview-wrap { overflow-x: auto; background: var(--panel); border: 1px solid var(--border); border-radius: .6rem; margin-bottom: 1rem; }
table.overview { width: 100%; border-collapse: collapse; font-size: .9rem; }
.overview th, .overview td { text-align: left; padding: .45rem .7rem; border-bottom: 1px solid var(--border); white-space: nowrap; }
.overview thead th { font-size: .75rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.overview tbody tr:last-child th, .overview tbody tr:last-child td { border-bottom: 0; }
.overview .num { text-align: right; font-variant-numeric: tabular-nums; }
.overview th a { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.overview .ov-error { white-space: normal; max-width: 32rem; overflow-wrap: anywhere; color: var(--muted); }
.overview tr[data-state="open"] { background: var(--bad-bg); }
.overview tr[data-state="half_open"] { background: var(--warn-bg); }
.crit { color: var(--bad); }
.last-error { margin: 0 0 .5rem; font-size: .9rem; overflow-wrap: anywhere; }
.last-error .label { color: var(--muted); }
.last-error[data-present="true"] .last-error-text { color: var(--bad); }
.admin { color: var(--accent); font-weight: 600; }
.ov-shards { display: block; font-family: system-ui, sans-serif; font-size: .8rem; font-weight: 400; color: var(--muted); }
.ov-shards .st, .shard-counts .st { margin-left: .3rem; }
.shards { border-top: 1px solid var(--border); padding-top: .4rem; margin: .2rem 0 .6rem; }
.shards h3 { font-size: .8rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: .2rem 0 .3rem; }
.shard-summary { margin: 0 0 .4rem; font-size: .9rem; }
.shard-bad { color: var(--bad); overflow-wrap: anywhere; }
.shard-chips { display: flex; flex-wrap: wrap; gap: .3rem; list-style: none; margin: 0 0 .4rem; padding: 0; }
.chip {
  display: inline-flex; align-items: center; gap: .25rem; padding: .1rem .5rem; border-radius: 1rem;
  border: 1px solid var(--ok); background: var(--ok-bg); font-size: .8rem;
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-variant-numeric: tabular-nums;
}
.chip-icon { font-weight: 700; color: var(--ok); }
.chip[data-state="open"] { border-color: var(--bad); background: var(--bad-bg); border-style: double; border-width: 3px; }
.chip[data-state="open"] .chip-icon { color: var(--bad); }
.chip[data-state="half_open"] { border-color: var(--warn); background: var(--warn-bg); border-style: dashed; }
.chip[data-state="half_open"] .chip-icon { color: var(--warn); }
.shard-details summary { cursor: pointer; font-size: .85rem; color: var(--accent); }
table.shard-table { width: 100%; border-collapse: collapse; font-size: .8rem; margin-top: .3rem; }
.shard-table th, .shard-table td { text-align: left; padding: .2rem .5rem .2rem 0; border-bottom: 1px solid var(--border); white-space: nowrap; }
.shard-table .num { text-align: right; font-variant-numeric: tabular-nums; }
.shard-table thead th { font-size: .75rem; color: var(--muted); }
.shard-table tr[data-state="open"] { background: var(--bad-bg); }
.shard-table tr[data-state="half_open"] { background: var(--warn-bg); }
.tick-admin { stroke: var(--accent); stroke-width: 3; }
.plot { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: .3rem; }
.y-axis { display: flex; flex-direction: column; justify-content: space-between; font-size: .7rem; color: var(--muted); text-align: right; font-variant-numeric: tabular-nums; height: 4.5rem; }
.x-axis { padding-left: 2.2rem; }
.gridline { stroke: var(--border); stroke-width: 1; stroke-dasharray: 3 3; vector-effect: non-scaling-stroke; }
.gap { fill: url(#bb-pat-gap); }
.pat-gap-bg { fill: var(--bg); }
.pat-gap-fg { stroke: var(--neutral); stroke-width: 1.5; opacity: .45; }
.threshold-mark { position: absolute; top: -2px; bottom: -2px; width: 3px; background: var(--fg); }
.meter .bar-track { overflow: visible; }
.status { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; color: var(--muted); font-size: .9rem; }
body[data-connection="lost"] #bb-conn { color: var(--bad); font-weight: 600; }
button {
  font: inherit; font-size: .9rem; padding: .3rem .75rem; border-radius: .4rem;
  border: 1px solid var(--border); background: var(--bg); color: var(--fg); cursor: pointer;
}
button[aria-pressed="true"] { background: var(--warn-bg); border-color: var(--warn); }
.alerts { padding: 0 clamp(.75rem, 3vw, 2rem); }
.banner {
  display: flex; gap: .9rem; align-items: flex-start; margin-top: 1rem; padding: .8rem 1rem;
  border: 2px solid var(--bad); border-left-width: .6rem; border-radius: .5rem;
  background: var(--bad-bg); color: var(--fg);
}
.banner p { margin: 0; }
.banner-title { font-size: 1.1rem; color: var(--bad); }
.banner-title a { color: inherit; }
.banner-icon { font-size: 1.6rem; line-height: 1; color: var(--bad); }
main { padding: 1rem clamp(.75rem, 3vw, 2rem) 2rem; }
main:focus { outline: none; }
.tiles { display: grid; gap: 1rem; grid-template-columns: minmax(0, 1fr); }
.tile {
  min-width: 0; background: var(--panel); border: 1px solid var(--border);
  border-top: .4rem solid var(--ok); border-radius: .6rem; padding: 1rem clamp(.75rem, 2vw, 1.25rem);
}
.tile[data-state="open"] { border-top-color: var(--bad); border-top-style: double; border-top-width: .6rem; }
.tile[data-state="half_open"] { border-top-color: var(--warn); border-top-style: dashed; }
.title-row { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: .25rem 1rem; }
.tile h2 { margin: 0; font-size: 1.2rem; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.badges { display: flex; flex-wrap: wrap; gap: .4rem; margin: 0; }
.badge { font-size: .8rem; padding: .1rem .5rem; border-radius: 1rem; border: 1px solid var(--border); color: var(--muted); }
.badge-critical { color: var(--bad); border-color: var(--bad); font-weight: 600; }
.tile[data-mode="normal"] .badge-mode { display: none; }
.badge-mode { color: var(--warn); border-color: var(--warn); font-weight: 600; }
.state { display: flex; align-items: baseline; flex-wrap: wrap; gap: .1rem .4rem; margin: .6rem 0 .1rem; font-size: 1rem; }
.state-icon {
  display: inline-grid; place-items: center; width: 1.9rem; height: 1.9rem; border-radius: 50%;
  font-size: 1.1rem; font-weight: 700; color: #fff; background: var(--ok); align-self: center;
}
.state-label { font-size: 1.6rem; color: var(--ok); }
.state-help { color: var(--muted); }
.tile[data-state="open"] .state-icon { background: var(--bad); }
.tile[data-state="open"] .state-label { color: var(--bad); }
.tile[data-state="half_open"] .state-icon { background: var(--warn); }
.tile[data-state="half_open"] .state-label { color: var(--warn); }
@media (prefers-color-scheme: dark) { .state-icon { color: #0d1117; } }
.since { margin: 0 0 .5rem; color: var(--muted); font-size: .9rem; }
.panels { display: grid; gap: .25rem 1.5rem; grid-template-columns: minmax(0, 1fr); }
@media (min-width: 48rem) { .panels { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
@media (min-width: 100rem) { .panels { grid-template-columns: 1.2fr 1fr 1.3fr .8fr; } }
.panel { min-width: 0; border-top: 1px solid var(--border); padding-top: .4rem; }
.panel h3 { font-size: .8rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: .2rem 0 .5rem; }
.muted { color: var(--muted); }
.small { font-size: .8rem; }
p { margin: .3rem 0; }
.timeline-band { display: block; width: 100%; height: 1.5rem; border-radius: .25rem; background: var(--bg); }
.seg-closed { fill: var(--ok); }
.seg-open { fill: url(#bb-pat-open); }
.seg-half_open { fill: url(#bb-pat-half); }
.pat-open-bg { fill: var(--bad); }
.pat-open-fg { fill: var(--bad-bg); }
.pat-half-bg { fill: var(--warn); }
.pat-half-fg { fill: var(--warn-bg); }
.tick { stroke: var(--fg); stroke-width: 1; opacity: .6; }
.axis { display: flex; justify-content: space-between; font-size: .75rem; color: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: .2rem .9rem; list-style: none; margin: .35rem 0; padding: 0; font-size: .8rem; }
.legend li, .rates dt { display: inline-flex; align-items: center; gap: .25rem; }
.swatch { flex: none; vertical-align: middle; }
.transitions { list-style: none; margin: .4rem 0 0; padding: 0; font-size: .85rem; }
.transitions li { padding: .15rem 0; border-bottom: 1px dotted var(--border); }
.transitions time { font-variant-numeric: tabular-nums; color: var(--muted); }
.st { font-weight: 600; }
.st-open { color: var(--bad); }
.st-half_open { color: var(--warn); }
.st-closed { color: var(--ok); }
.reason { color: var(--muted); }
.rates { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: .3rem .75rem; margin: 0 0 .5rem; }
.rates dt { font-size: .8rem; color: var(--muted); }
.rates dd { margin: 0; }
.rates .num { font-size: 1.3rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.rates .unit { color: var(--muted); margin-left: .1rem; }
.rates .lifetime { display: block; font-size: .75rem; color: var(--muted); }
.rate-ignored { opacity: .85; }
.spark { display: block; width: 100%; height: 4.5rem; background: var(--bg); border-radius: .25rem; }
.series { fill: none; stroke-width: 2; stroke-linejoin: round; }
.baseline { stroke: var(--border); stroke-width: 1; vector-effect: non-scaling-stroke; }
.line-success { stroke: var(--ok); stroke-width: 2; }
.line-failure { stroke: var(--bad); stroke-width: 2; }
.line-rejected { stroke: var(--warn); stroke-width: 2.5; }
.line-ignored { stroke: var(--neutral); stroke-width: 1.5; }
.table-wrap { overflow-x: auto; }
table.latency { width: 100%; border-collapse: collapse; font-size: .85rem; }
.latency th, .latency td { text-align: left; padding: .2rem .4rem .2rem 0; border-bottom: 1px solid var(--border); white-space: nowrap; }
.latency .num { text-align: right; font-variant-numeric: tabular-nums; }
.latency thead th { font-weight: 600; color: var(--muted); font-size: .75rem; }
.bar-cell { width: 30%; min-width: 4rem; }
.bar-track { position: relative; display: block; height: .55rem; background: var(--bg); border-radius: .3rem; overflow: hidden; }
.bar-track.wide { height: .7rem; margin: .2rem 0 .3rem; }
.bar { display: block; height: 100%; border-radius: .3rem; }
.bar-success { background: var(--ok); }
.bar-rejected { background: var(--warn); }
.bar-failure { background: var(--bad); }
.bar-log { background: var(--accent); }
.bar-p50 { position: absolute; top: 0; bottom: 0; width: 2px; background: var(--fg); }
.compare { font-weight: 600; font-size: .95rem; }
.big { font-size: 1rem; margin: 0; }
.big .num { font-size: 1.6rem; font-variant-numeric: tabular-nums; }
footer { padding: 0 clamp(.75rem, 3vw, 2rem) 2rem; color: var(--muted); font-size: .85rem; }
footer ul { padding-left: 1.2rem; }
.defs { position: absolute; width: 0; height: 0; overflow: hidden; }
@media (max-width: 30rem) {
  .bar-cell { display: none; }
  .state-label { font-size: 1.35rem; }
  .rates .num { font-size: 1.1rem; }
}
`;

/** Escapes a string for an HTML attribute or text. */
function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** JSON safe to embed in a <script type="application/json"> block. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026');
}

export function renderPage(options: PageOptions): string {
  const nonce = escapeHtml(options.nonce);
  const data = escapeHtml(options.dataUrl);
  const health = escapeHtml(options.healthUrl);
  const config = scriptJson({ dataUrl: options.dataUrl, pollMs: options.pollMs });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>breakerbox dashboard</title>
<link rel="icon" type="image/svg+xml" href="${escapeHtml(options.iconUrl)}">
<style nonce="${nonce}">${STYLE}</style>
</head>
<body data-connection="connecting">
<a class="skip" href="#bb-main">Skip to the circuit breakers</a>
<header class="page-head">
  <h1>breakerbox <span class="sub">circuit breakers</span></h1>
  <p id="bb-summary" class="summary">Loading…</p>
  <div class="status">
    <span id="bb-conn" role="status">Connecting…</span>
    <span id="bb-updated"></span>
    <button id="bb-pause" type="button" aria-pressed="false">Pause updates</button>
  </div>
</header>
<div id="bb-alerts" class="alerts" aria-live="assertive" aria-atomic="true"></div>
<main id="bb-main" tabindex="-1">
  <ul id="bb-deps" class="deps" aria-label="Dependencies known to be down"></ul>
  <h2 class="visually-hidden">Overview</h2>
  <div class="overview-wrap">
    <table id="bb-overview" class="overview">
      <caption class="visually-hidden">One row per circuit breaker; details below</caption>
      <thead><tr><th scope="col">Breaker</th><th scope="col">State</th><th scope="col" class="num">In state</th><th scope="col" class="num">Calls</th><th scope="col" class="num">Rejected</th><th scope="col">Last error</th></tr></thead>
      <tbody id="bb-overview-body"></tbody>
    </table>
  </div>
  <h2 class="visually-hidden">Details</h2>
  <div id="bb-tiles" class="tiles"></div>
  <noscript><p>This dashboard needs JavaScript. The same data is at <a href="${data}">${data}</a> and <a href="${health}">${health}</a>.</p></noscript>
</main>
<footer>
  <h2 class="visually-hidden">About this page</h2>
  <ul>
    <li>States: ✓ Closed (calls go through) · ◐ Half-open (probe calls test recovery) · ✕ Open (calls fail fast). ★ Critical: while open, <a href="${health}/ready">${health}/ready</a> answers 503.</li>
    <li>On a Redis Cluster each shard has its own breaker (<code>redis_cache:&lt;first slot&gt;</code>): they are shown as chips in the <code>redis_cache</code> tile, whose state is their roll-up (closed while any shard is closed), with a per-shard table under "Per-shard details".</li>
    <li>Updates every second from <a href="${data}">${data}</a>. Rates are deltas of the lifetime call counters; latency percentiles come from bucket deltas of the duration histograms over the last minute.</li>
    <li>Log-noise reduction = suppressed / (suppressed + emitted) log events: failures and rejections are counted, not logged one by one.</li>
    <li>The header's severity is /health's: Critical (red) while a critical circuit is open and /health/ready answers 503; Degraded (amber) while a breaker is not closed or a dependency is known to be down. The service keeps the last minutes of samples, transitions and admin actions, so a reload loses nothing; hatched spans in a chart had no samples.</li>
  </ul>
</footer>
<svg class="defs" aria-hidden="true" focusable="false" width="0" height="0">
  <defs>
    <pattern id="bb-pat-open" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
      <rect class="pat-open-bg" width="8" height="8"></rect>
      <rect class="pat-open-fg" width="2.5" height="8"></rect>
    </pattern>
    <pattern id="bb-pat-gap" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
      <rect class="pat-gap-bg" width="8" height="8"></rect>
      <line class="pat-gap-fg" x1="0" y1="0" x2="0" y2="8"></line>
    </pattern>
    <pattern id="bb-pat-half" width="6" height="6" patternUnits="userSpaceOnUse">
      <rect class="pat-half-bg" width="6" height="6"></rect>
      <circle class="pat-half-fg" cx="3" cy="3" r="1.3"></circle>
    </pattern>
  </defs>
</svg>
<script type="application/json" id="bb-config">${config}</script>
<script nonce="${nonce}">${clientScript().replace(/<\/script/gi, '<\\/script')}</script>
</body>
</html>
`;
}

/** A small breaker icon (three bars and a switch), served by the service itself. */
export const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f2328"/><path d="M8 24V8h4v16zM20 24V8h4v16z" fill="#3fb950"/><path d="M12 17l8-6" stroke="#f6f8fa" stroke-width="2.5" stroke-linecap="round"/></svg>`;
