// The dashboard's browser script, served inline (no external assets). It is plain ES2020 kept
// as a string: the service never bundles browser code. No template literals, no `${` inside,
// and everything taken from the data feed is inserted with textContent, never as HTML.
//
// It polls the data feed once a second (backing off while the service does not answer),
// keeps one tile per breaker and updates it in place.

export const CLIENT_SCRIPT = String.raw`
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('bb-config').textContent);
  var SVG_NS = 'http://www.w3.org/2000/svg';

  var STATES = {
    closed: { label: 'Closed', icon: '✓', help: 'calls go through' },
    open: { label: 'Open', icon: '✕', help: 'calls fail fast, the dependency is left alone' },
    half_open: { label: 'Half-open', icon: '◐', help: 'a few probe calls test recovery' }
  };
  var REASONS = {
    failure_threshold: 'failure threshold reached',
    failure_rate: 'failure rate over the limit',
    recovery_timeout: 'recovery timeout elapsed',
    probe_success: 'probe succeeded',
    probe_failure: 'probe failed',
    half_open_timeout: 'probe took too long',
    manual_reset: 'reset by an operator',
    manual_open: 'forced open by an operator',
    manual_disable: 'disabled by an operator'
  };
  var OUTCOMES = [
    { key: 'success', label: 'Success', cls: 'line-success', dash: '' },
    { key: 'failure', label: 'Failure', cls: 'line-failure', dash: '6 3' },
    { key: 'rejected', label: 'Rejected (fail-fast)', cls: 'line-rejected', dash: '1.5 3' },
    { key: 'ignored', label: 'Ignored error', cls: 'line-ignored', dash: '' }
  ];
  var LATENCY_ROWS = [
    { key: 'success', label: 'Success' },
    { key: 'rejected', label: 'Rejected (fail-fast)' },
    { key: 'failure', label: 'Failure' }
  ];

  var tiles = new Map();
  var paused = false;
  var failures = 0;
  var timer = null;
  var lastAlertKey = null;
  var lastConn = null;
  var lastOkAt = null;

  // ------------------------------------------------------------------ helpers

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === 'text') node.textContent = String(v);
      else node.setAttribute(k, String(v));
    });
  }
  function append(node, children) {
    if (children === undefined || children === null) return;
    (Array.isArray(children) ? children : [children]).forEach(function (c) {
      if (c === undefined || c === null || c === false) return;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
  }
  function safeId(name) {
    return 'bb-' + String(name).replace(/[^A-Za-z0-9_-]/g, '_');
  }
  function pad(n) {
    return (n < 10 ? '0' : '') + n;
  }
  function clock(ms) {
    var d = new Date(ms);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function span(seconds) {
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min' + (s % 60 ? ' ' + (s % 60) + ' s' : '');
    var h = Math.floor(m / 60);
    if (h < 48) return h + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '');
    return Math.floor(h / 24) + ' d';
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return '—';
    if (seconds < 1e-3) {
      var us = seconds * 1e6;
      return (us < 10 ? us.toFixed(1) : Math.round(us)) + ' µs';
    }
    if (seconds < 1) {
      var ms = seconds * 1e3;
      return (ms < 10 ? ms.toFixed(1) : Math.round(ms)) + ' ms';
    }
    return (seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(1)) + ' s';
  }
  function rate(r) {
    if (r === null || r === undefined) return '—';
    return r >= 100 ? String(Math.round(r)) : r.toFixed(1);
  }
  function count(n) {
    return Number(n).toLocaleString('en-US');
  }
  function percent(x) {
    var p = x * 100;
    return (p >= 99.95 || p === 0 ? p.toFixed(0) : p >= 10 ? p.toFixed(1) : p.toFixed(2)) + '%';
  }
  function stateInfo(v) {
    var info = STATES[v.state] || { label: v.state, icon: '?', help: '' };
    if (v.mode === 'isolated') {
      return { label: 'Open (forced)', icon: '⛔', help: 'forced open by an operator: every call fails fast until reset' };
    }
    if (v.mode === 'disabled') {
      return { label: 'Disabled', icon: '⏸', help: 'every call goes through and is measured, the breaker never trips' };
    }
    return info;
  }
  function stateWord(s) {
    var info = STATES[s];
    return info ? info.icon + ' ' + info.label : s;
  }

  // ------------------------------------------------------------------ tiles

  function section(id, title) {
    var h = el('h3', { id: id, text: title });
    var body = el('div', { class: 'section-body' });
    var node = el('section', { class: 'panel', 'aria-labelledby': id }, [h, body]);
    return { node: node, heading: h, body: body };
  }

  function createTile(name) {
    var id = safeId(name);
    var title = el('h2', { id: id + '-h', text: name });
    var badges = el('p', { class: 'badges' });
    var stateIcon = el('span', { class: 'state-icon', 'aria-hidden': 'true' });
    var stateLabel = el('strong', { class: 'state-label' });
    var stateHelp = el('span', { class: 'state-help' });
    var stateLine = el('p', { class: 'state', 'data-role': 'state' }, [
      stateIcon,
      ' ',
      el('span', { class: 'visually-hidden', text: 'State: ' }),
      stateLabel,
      stateHelp
    ]);
    var since = el('p', { class: 'since' });
    var head = el('header', { class: 'tile-head' }, [
      el('div', { class: 'title-row' }, [title, badges]),
      stateLine,
      since
    ]);

    var timeline = section(id + '-timeline', 'Timeline');
    var rates = section(id + '-rates', 'Calls per second');
    var latency = section(id + '-latency', 'Latency: fail-fast vs success');
    var log = section(id + '-log', 'Log-noise reduction');

    var article = el('article', { class: 'tile', id: id, 'data-breaker': name, 'aria-labelledby': id + '-h' }, [
      head,
      el('div', { class: 'panels' }, [timeline.node, rates.node, latency.node, log.node])
    ]);
    return {
      id: id,
      article: article,
      badges: badges,
      stateIcon: stateIcon,
      stateLabel: stateLabel,
      stateHelp: stateHelp,
      since: since,
      timeline: timeline,
      rates: rates,
      latency: latency,
      log: log
    };
  }

  function updateTile(t, v, data, now) {
    var info = stateInfo(v);
    t.article.setAttribute('data-state', v.state);
    t.article.setAttribute('data-mode', v.mode);
    t.article.setAttribute('data-critical', v.critical ? 'true' : 'false');
    t.stateIcon.textContent = info.icon;
    t.stateLabel.textContent = info.label;
    t.stateHelp.textContent = ' — ' + info.help;

    t.badges.replaceChildren(
      v.critical
        ? el('span', { class: 'badge badge-critical', title: 'While open, /health/ready answers 503' }, [
            el('span', { 'aria-hidden': 'true', text: '★ ' }),
            'Critical'
          ])
        : el('span', { class: 'badge', text: 'Not critical' }),
      el('span', { class: 'badge badge-mode', text: 'Mode: ' + v.mode })
    );

    var parts = ['In this state for ' + span(v.time_in_state_seconds)];
    if (v.state === 'open' && v.retry_after_seconds !== null) {
      parts.push(v.retry_after_seconds > 0.5 ? 'next probe in ' + span(v.retry_after_seconds) : 'next call is a probe');
    }
    if (v.state === 'half_open') {
      parts.push('up to ' + v.config.half_open_max_calls + ' probe call' + (v.config.half_open_max_calls === 1 ? '' : 's'));
    }
    if (v.state === 'closed' && v.config.failure_threshold !== null) {
      parts.push(v.failure_count + ' of ' + v.config.failure_threshold + ' consecutive failures');
    }
    parts.push('opened ' + count(v.opened_count) + (v.opened_count === 1 ? ' time' : ' times'));
    t.since.textContent = parts.join(' · ');

    renderTimeline(t, v, data, now);
    renderRates(t, v, now);
    renderLatency(t, v);
    renderLog(t, v);
  }

  // Timeline: a band of states over a recent span (at least 1 min, at most 5), then a list.
  function renderTimeline(t, v, data, now) {
    var started = Date.parse(data.started_at);
    var spanMs = Math.min(300000, Math.max(30000, now - started));
    var start = now - spanMs;
    var mine = data.transitions.filter(function (r) {
      return r.breaker === v.name;
    });
    var state = v.state;
    var before = mine.filter(function (r) { return Date.parse(r.at) <= start; });
    var after = mine.filter(function (r) { return Date.parse(r.at) > start; });
    if (before.length > 0) state = before[before.length - 1].to;
    else if (after.length > 0) state = after[0].from;

    var from = Math.max(start, started);
    var segments = [];
    after.forEach(function (r) {
      var at = Math.min(Date.parse(r.at), now);
      if (at > from) segments.push({ from: from, to: at, state: state });
      state = r.to;
      from = Math.max(from, at);
    });
    if (now > from) segments.push({ from: from, to: now, state: state });

    var pct = function (ms) {
      return (Math.max(0, Math.min(1, (ms - start) / spanMs)) * 100).toFixed(3) + '%';
    };
    var band = svg('svg', {
      class: 'timeline-band',
      role: 'img',
      'aria-label': 'State over the last ' + span(spanMs / 1000) + ': ' +
        (after.length === 0 ? 'no transitions' : after.length + ' transition' + (after.length === 1 ? '' : 's')) +
        ', listed below',
      preserveAspectRatio: 'none'
    });
    // Half-open often lasts only as long as one probe: keep it visible (drawn last, on top).
    segments.sort(function (a, b) { return (a.state === 'half_open') - (b.state === 'half_open'); });
    segments.forEach(function (s) {
      var w = Math.max(0, (s.to - s.from) / spanMs) * 100;
      if (s.state === 'half_open') w = Math.max(w, 0.8);
      band.appendChild(svg('rect', { class: 'seg seg-' + s.state, x: pct(s.from), y: 0, width: w.toFixed(3) + '%', height: '100%' }, [
        svg('title', { text: (STATES[s.state] ? STATES[s.state].label : s.state) + ' from ' + clock(s.from) + ' to ' + clock(s.to) })
      ]));
    });
    after.forEach(function (r) {
      band.appendChild(svg('line', { class: 'tick', x1: pct(Date.parse(r.at)), x2: pct(Date.parse(r.at)), y1: 0, y2: '100%' }));
    });
    var axis = el('div', { class: 'axis', 'aria-hidden': 'true' }, [
      el('span', { text: '−' + span(spanMs / 1000) }),
      el('span', { text: 'now' })
    ]);
    var legend = el('ul', { class: 'legend', 'aria-label': 'Timeline legend' }, ['closed', 'half_open', 'open'].map(function (s) {
      return el('li', null, [
        svg('svg', { class: 'swatch', width: 18, height: 12, 'aria-hidden': 'true' }, [
          svg('rect', { class: 'seg seg-' + s, width: 18, height: 12 })
        ]),
        ' ' + stateWord(s)
      ]);
    }));

    var recent = mine.slice(-6).reverse();
    var list = recent.length === 0
      ? el('p', { class: 'muted', text: 'No transitions yet: ' + STATES[v.state].label.toLowerCase() + ' since the service started.' })
      : el('ol', { class: 'transitions', 'aria-label': 'Recent transitions, newest first' }, recent.map(function (r) {
          var at = Date.parse(r.at);
          return el('li', null, [
            el('time', { datetime: r.at, text: clock(at) }),
            ' ',
            el('span', { class: 'change' }, [
              el('span', { class: 'st st-' + r.from, text: stateWord(r.from) }),
              el('span', { 'aria-hidden': 'true', text: ' → ' }),
              el('span', { class: 'visually-hidden', text: ' to ' }),
              el('span', { class: 'st st-' + r.to, text: stateWord(r.to) })
            ]),
            ' ',
            el('span', { class: 'reason', text: REASONS[r.reason] || r.reason })
          ]);
        }));
    t.timeline.body.replaceChildren(band, axis, legend, list);
  }

  // Calls per second: the headline over the last seconds, and a sparkline of 2 minutes.
  function renderRates(t, v, now) {
    var current = v.rates.current;
    var dl = el('dl', { class: 'rates' }, OUTCOMES.map(function (o) {
      return el('div', { class: 'rate rate-' + o.key }, [
        el('dt', null, [
          svg('svg', { class: 'swatch', width: 22, height: 10, 'aria-hidden': 'true' }, [
            svg('line', { class: o.cls, x1: 1, x2: 21, y1: 5, y2: 5, 'stroke-dasharray': o.dash || null })
          ]),
          ' ' + o.label
        ]),
        el('dd', null, [
          el('span', { class: 'num', text: current ? rate(current[o.key]) : '—' }),
          el('span', { class: 'unit', text: '/s' }),
          el('span', { class: 'lifetime', text: count(v.calls[o.key]) + ' total' })
        ])
      ]);
    }));

    // Up to 2 minutes, as much as there is (at least 30 s so a fresh page is not all stretch).
    var series = v.rates.series;
    var windowMs = Math.min(120000, Math.max(30000, series.length > 0 ? now - series[0].t : 0));
    var points = series.filter(function (p) { return p.t >= now - windowMs; });
    var peak = 0;
    points.forEach(function (p) {
      OUTCOMES.forEach(function (o) { peak = Math.max(peak, p[o.key]); });
    });
    var top = peak <= 0 ? 1 : peak * 1.1;
    var chart = svg('svg', {
      class: 'spark',
      viewBox: '0 0 1000 100',
      preserveAspectRatio: 'none',
      role: 'img',
      'aria-label': points.length < 2
        ? 'Calls per second: collecting data'
        : 'Calls per second over the last ' + span(Math.min(windowMs, now - points[0].t) / 1000) + ', peak ' + rate(peak) + ' per second'
    });
    chart.appendChild(svg('line', { class: 'baseline', x1: 0, x2: 1000, y1: 99.5, y2: 99.5 }));
    if (points.length >= 2) {
      OUTCOMES.forEach(function (o) {
        var used = points.some(function (p) { return p[o.key] > 0; });
        if (!used) return;
        var coords = points.map(function (p) {
          var x = (1 - (now - p.t) / windowMs) * 1000;
          var y = 100 - (p[o.key] / top) * 96 - 2;
          return x.toFixed(1) + ',' + y.toFixed(1);
        }).join(' ');
        chart.appendChild(svg('polyline', {
          class: 'series ' + o.cls,
          points: coords,
          'stroke-dasharray': o.dash || null,
          'vector-effect': 'non-scaling-stroke'
        }));
      });
    }
    var axis = el('div', { class: 'axis', 'aria-hidden': 'true' }, [
      el('span', { text: '−' + span(windowMs / 1000) }),
      el('span', { text: 'peak ' + rate(peak) + '/s' }),
      el('span', { text: 'now' })
    ]);
    var note = el('p', { class: 'muted small', text: current
      ? 'Average of the last ' + span(v.rates.seconds) + ', from deltas of the lifetime counters.'
      : 'Rates appear after the second update.' });
    t.rates.body.replaceChildren(dl, chart, axis, note);
  }

  // Latency: p50/p99 per outcome from histogram deltas; bars on a log scale (1 µs – 10 s).
  function renderLatency(t, v) {
    var lat = v.latency;
    var windowed = lat.basis === 'window';
    t.latency.heading.textContent = 'Latency: fail-fast vs success' + (windowed ? ', last ' + span(lat.seconds) : ', since start');
    var scale = function (s) {
      if (s === null) return 0;
      var x = (Math.log10(Math.max(s, 1e-6)) + 6) / 7;
      return Math.max(0.01, Math.min(1, x));
    };
    var rows = LATENCY_ROWS.map(function (r) {
      var w = lat.window[r.key];
      var l = lat.lifetime[r.key];
      var bar = el('span', { class: 'bar bar-' + r.key });
      bar.style.width = (scale(w.p99) * 100).toFixed(1) + '%';
      var mid = el('span', { class: 'bar-p50' });
      mid.style.left = (scale(w.p50) * 100).toFixed(1) + '%';
      var callsCell = count(w.count) + (windowed && l.count !== w.count ? ' (' + count(l.count) + ' total)' : '');
      return el('tr', { 'data-outcome': r.key }, [
        el('th', { scope: 'row', text: r.label }),
        el('td', { class: 'num', text: duration(w.p50) }),
        el('td', { class: 'num', text: duration(w.p99) }),
        el('td', { class: 'num', text: callsCell }),
        el('td', { class: 'bar-cell', 'aria-hidden': 'true' }, w.count > 0 ? el('span', { class: 'bar-track' }, [bar, mid]) : null)
      ]);
    });
    var table = el('table', { class: 'latency' }, [
      el('caption', { class: 'visually-hidden', text: 'Call duration by outcome' + (windowed ? ' over the last ' + span(lat.seconds) : ' since start') }),
      el('thead', null, el('tr', null, [
        el('th', { scope: 'col', text: 'Outcome' }),
        el('th', { scope: 'col', class: 'num', text: 'p50' }),
        el('th', { scope: 'col', class: 'num', text: 'p99' }),
        el('th', { scope: 'col', class: 'num', text: 'Calls' }),
        el('th', { scope: 'col', class: 'bar-cell', 'aria-hidden': 'true', text: 'p99 (log scale)' })
      ])),
      el('tbody', null, rows)
    ]);

    var pick = function (key) {
      return lat.window[key].count > 0 ? { s: lat.window[key], when: windowed ? 'recent' : 'since start' } :
        lat.lifetime[key].count > 0 ? { s: lat.lifetime[key], when: 'since start' } : null;
    };
    var ok = pick('success');
    var rej = pick('rejected');
    var text;
    if (rej && ok && rej.s.p50 > 0) {
      var ratio = ok.s.p50 / rej.s.p50;
      text = 'A rejected call answers in ' + duration(rej.s.p50) + ' (p50, ' + rej.when + '), ' +
        (ratio >= 1.5 ? Math.round(ratio).toLocaleString('en-US') + '× faster than' : 'about as fast as') +
        ' a successful call (' + duration(ok.s.p50) + ').';
    } else if (rej) {
      text = 'Rejected calls answer in ' + duration(rej.s.p50) + ' (p50) without touching the dependency.';
    } else {
      text = 'No call has been rejected yet: fail-fast latency appears once the circuit opens.';
    }
    var summary = el('p', { class: 'compare', text: text });
    var note = el('p', { class: 'muted small', text: windowed
      ? 'Estimated from the duration histograms’ bucket deltas over the window. Bars: p99 on a log scale from 1 µs to 10 s; the tick marks p50.'
      : 'Estimated from the lifetime duration histograms until this page has watched a whole minute. Bars: p99 on a log scale from 1 µs to 10 s; the tick marks p50.' });
    t.latency.body.replaceChildren(summary, el('div', { class: 'table-wrap' }, table), note);
  }

  function renderLog(t, v) {
    var log = v.log;
    var nodes;
    if (log.noise_reduction === null) {
      nodes = [el('p', { class: 'muted', text: 'Nothing to suppress yet: no failures or rejections.' })];
    } else {
      var bar = el('span', { class: 'bar bar-log' });
      bar.style.width = (log.noise_reduction * 100).toFixed(1) + '%';
      nodes = [
        el('p', { class: 'big' }, [
          el('strong', { class: 'num', text: percent(log.noise_reduction) }),
          ' fewer log lines'
        ]),
        el('span', { class: 'bar-track wide', 'aria-hidden': 'true' }, bar),
        el('p', { class: 'muted small', text:
          count(log.emitted) + ' line' + (log.emitted === 1 ? '' : 's') + ' written (state changes and periodic summaries); ' +
          count(log.suppressed) + ' failures and rejections counted instead of logged one by one.' })
      ];
    }
    t.log.body.replaceChildren.apply(t.log.body, nodes);
  }

  // ------------------------------------------------------------------ page

  function renderAlerts(data) {
    var names = data.critical_open.slice().sort();
    var key = names.join(',');
    if (key === lastAlertKey) return;
    lastAlertKey = key;
    var region = document.getElementById('bb-alerts');
    if (names.length === 0) {
      region.replaceChildren();
      return;
    }
    region.replaceChildren(el('div', { id: 'critical-banner', class: 'banner' }, [
      el('span', { class: 'banner-icon', 'aria-hidden': 'true', text: '⚠' }),
      el('div', null, [
        el('p', { class: 'banner-title' }, [el('strong', null, ['Critical circuit open: '].concat(
          names.map(function (n, i) {
            return el('a', { href: '#' + safeId(n), text: n + (i < names.length - 1 ? ', ' : '') });
          })
        ))]),
        el('p', { text: 'Requests that need ' + (names.length === 1 ? 'it' : 'them') +
          ' fail fast with HTTP 503, and /health/ready reports not ready until the circuit closes.' })
      ])
    ]));
  }

  function render(data) {
    var now = Date.parse(data.generated_at);
    var container = document.getElementById('bb-tiles');
    var seen = new Set();
    data.breakers.forEach(function (v) {
      seen.add(v.name);
      var t = tiles.get(v.name);
      if (!t) {
        t = createTile(v.name);
        tiles.set(v.name, t);
        container.appendChild(t.article);
      }
      updateTile(t, v, data, now);
    });
    tiles.forEach(function (t, name) {
      if (!seen.has(name)) {
        t.article.remove();
        tiles.delete(name);
      }
    });
    if (data.breakers.length === 0) {
      container.replaceChildren(el('p', { class: 'muted', text: 'No circuit breakers are registered.' }));
    } else {
      var empty = container.querySelector(':scope > p');
      if (empty) empty.remove();
    }

    var notClosed = data.breakers.filter(function (v) { return v.state !== 'closed'; });
    var summary = document.getElementById('bb-summary');
    summary.setAttribute('data-health', notClosed.length === 0 ? 'healthy' : 'degraded');
    summary.textContent = notClosed.length === 0
      ? '✓ Healthy: all ' + data.breakers.length + ' circuits closed'
      : '⚠ Degraded: ' + notClosed.map(function (v) { return v.name + ' ' + stateInfo(v).label.toLowerCase(); }).join(', ');
    document.title = (data.critical_open.length > 0 ? '⚠ Critical circuit open — ' : notClosed.length > 0 ? 'Degraded — ' : '') +
      'breakerbox dashboard';
    renderAlerts(data);
    document.getElementById('bb-updated').textContent = 'Updated ' + clock(now);
  }

  function setConnection(ok) {
    var state = ok ? 'live' : 'lost';
    document.body.setAttribute('data-connection', state);
    if (state === lastConn) return;
    lastConn = state;
    document.getElementById('bb-conn').textContent = ok
      ? '● Live'
      : '○ Connection lost, retrying' + (lastOkAt ? ' (data from ' + clock(lastOkAt) + ' may be stale)' : '');
  }

  function schedule() {
    clearTimeout(timer);
    if (paused) return;
    var delay = failures === 0 ? config.pollMs : Math.min(10000, config.pollMs * Math.pow(2, failures));
    timer = setTimeout(poll, delay);
  }

  function poll() {
    var controller = new AbortController();
    var abort = setTimeout(function () { controller.abort(); }, 5000);
    fetch(config.dataUrl, { cache: 'no-store', headers: { accept: 'application/json' }, signal: controller.signal })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (data) {
        failures = 0;
        lastOkAt = Date.now();
        setConnection(true);
        render(data);
      })
      .catch(function () {
        failures++;
        setConnection(false);
      })
      .then(function () {
        clearTimeout(abort);
        schedule();
      });
  }

  var pause = document.getElementById('bb-pause');
  pause.addEventListener('click', function () {
    paused = !paused;
    pause.setAttribute('aria-pressed', paused ? 'true' : 'false');
    pause.textContent = paused ? 'Resume updates' : 'Pause updates';
    if (paused) {
      clearTimeout(timer);
      document.getElementById('bb-conn').textContent = '❚❚ Paused';
      lastConn = 'paused';
    } else {
      poll();
    }
  });

  poll();
})();
`;
