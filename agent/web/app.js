// homeostat's web page: polls the daemon's JSON API and draws services, anomalies and
// actions. Plain DOM (textContent, never innerHTML: service names and endpoints are bytes
// from the kernel) and inline SVG charts; nothing is loaded from anywhere but the daemon.
'use strict';

(() => {
  const POLL_MS = 3000;
  const POINTS = 120;      // windows per chart
  const MAX_ROWS = 40;     // HTTP services with charts; the rest are counted
  const MAX_OTHER = 15;    // services without HTTP (or gone), shown when unfolded
  const MAX_ANOMALIES = 8; // open anomalies drawn; the rest are counted
  const TOKEN_KEY = 'homeostat.api-token';
  const SVG = 'http://www.w3.org/2000/svg';

  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let timer = 0;

  // ---- DOM helpers -------------------------------------------------------------------
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }
  const $ = (id) => document.getElementById(id);
  function replace(id, ...children) { $(id).replaceChildren(...children.flat()); }

  // ---- formatting ----------------------------------------------------------------------
  const finite = (v) => typeof v === 'number' && Number.isFinite(v);
  function num(v, digits) {
    if (!finite(v)) return '–';
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
    if (a >= 100 || v === Math.round(v)) return Math.round(v).toString();
    return v.toFixed(digits === undefined ? (a >= 10 ? 1 : 2) : digits);
  }
  const fmt = {
    rate: (v) => finite(v) ? num(v) + '/s' : '–',
    ratio: (v) => !finite(v) ? '–' : v === 0 ? '0%' : v < 0.001 ? '<0.1%' : (v * 100).toFixed(v < 0.1 ? 1 : 0) + '%',
    seconds(v) {
      if (!finite(v)) return '–';
      if (v < 1e-3) return Math.round(v * 1e6) + ' µs';
      if (v < 1) return (v * 1e3).toFixed(v < 0.01 ? 2 : v < 0.1 ? 1 : 0) + ' ms';
      return v.toFixed(2) + ' s';
    },
    cores: (v) => finite(v) ? (v < 0.01 && v > 0 ? '<0.01' : v.toFixed(2)) + ' cores' : '–',
    bytes(v) {
      if (!finite(v)) return '–';
      const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let i = 0;
      while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
      return (i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 1 : 0)) + ' ' + units[i];
    },
    count: (v) => finite(v) ? num(v) : '–',
    ago(unix) {
      if (!finite(unix) || unix <= 0) return '–';
      const s = Math.max(0, Date.now() / 1000 - unix);
      if (s < 60) return Math.round(s) + ' s ago';
      if (s < 3600) return Math.round(s / 60) + ' min ago';
      if (s < 86400) return (s / 3600).toFixed(1) + ' h ago';
      return Math.round(s / 86400) + ' d ago';
    },
    clock(unix) { return finite(unix) ? new Date(unix * 1000).toLocaleTimeString() : '–'; },
    duration(s) {
      if (!finite(s)) return '–';
      if (s < 90) return Math.round(s) + ' s';
      if (s < 5400) return Math.round(s / 60) + ' min';
      if (s < 172800) return (s / 3600).toFixed(1) + ' h';
      return Math.round(s / 86400) + ' d';
    },
  };
  // How an anomaly's signal is measured (live_monitor.h: Anomaly::signal).
  function signalFormat(signal) {
    if (signal && signal.startsWith('latency')) return fmt.seconds;
    switch (signal) {
      case 'error_ratio': return fmt.ratio;
      case 'request_rate': return fmt.rate;
      case 'cpu': return fmt.cores;
      case 'memory': return fmt.bytes;
      default: return fmt.count;
    }
  }

  // ---- the API -------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(path, status, text) {
      super(status ? `GET ${path}: HTTP ${status}${text ? ': ' + text : ''}` : `GET ${path}: ${text}`);
      this.path = path;
      this.status = status;
      this.text = text;
    }
  }
  async function api(path) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    let r;
    try {
      r = await fetch(path, { headers, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(path, 0, 'the daemon does not answer (' + e.message + ')');
    }
    if (!r.ok) throw new ApiError(path, r.status, (await r.text()).trim().slice(0, 300));
    try {
      return await r.json();
    } catch (e) {
      throw new ApiError(path, r.status, 'not JSON (' + e.message + ')');
    }
  }

  // ---- charts --------------------------------------------------------------------------
  // A sparkline of one or more series (arrays of numbers or nulls, oldest first) on one
  // scale from 0 to the largest value; gaps where a value is unknown.
  function sparkline(series, opts) {
    const w = opts.width || 132, h = opts.height || 30, pad = 2;
    const all = series.flatMap((s) => s.values.filter(finite));
    const n = Math.max(0, ...series.map((s) => s.values.length));
    const root = svg('svg', { class: 'spark', width: w, height: h, viewBox: `0 0 ${w} ${h}`,
                             'data-points': all.length, role: 'img' });
    const title = svg('title');
    root.append(title);
    root.append(svg('line', { class: 'base', x1: 0, y1: h - 0.5, x2: w, y2: h - 0.5 }));
    if (all.length === 0) {
      title.textContent = opts.label + ': no data yet';
      const t = svg('text', { class: 'none', x: 4, y: h / 2 + 3 });
      t.textContent = 'no data';
      root.append(t);
      return root;
    }
    const max = Math.max(...all, opts.floor || 0) || 1;
    const x = (i) => n <= 1 ? w - pad : pad + (i * (w - 2 * pad)) / (n - 1);
    const y = (v) => h - pad - (v / max) * (h - 2 * pad);
    series.forEach((s, si) => {
      const offset = n - s.values.length; // right-aligned: the newest point is at the right edge
      let d = '', area = '', run = [];
      const flush = () => {
        if (run.length === 0) return;
        d += run.map(([i, v], k) => `${k ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join('');
        if (si === 0 && opts.fill) {
          area += `M${x(run[0][0]).toFixed(1)},${h - pad}` +
            run.map(([i, v]) => `L${x(i).toFixed(1)},${y(v).toFixed(1)}`).join('') +
            `L${x(run[run.length - 1][0]).toFixed(1)},${h - pad}Z`;
        }
        run = [];
      };
      s.values.forEach((v, i) => { if (finite(v)) run.push([i + offset, v]); else flush(); });
      flush();
      if (area) root.append(svg('path', { class: 'area ' + (s.class || ''), d: area }));
      if (d) root.append(svg('path', { class: 'line ' + (s.class || ''), d }));
    });
    const first = series[0].values;
    for (let i = first.length - 1; i >= 0; i--) {
      if (finite(first[i])) {
        root.append(svg('circle', { class: 'dot ' + (series[0].class || ''), r: 2,
                                    cx: x(i + n - first.length), cy: y(first[i]) }));
        break;
      }
    }
    const f = opts.format;
    title.textContent = `${opts.label}: up to ${f(max)} over the last ${n} windows`;
    return root;
  }

  const lastFinite = (values) => {
    for (let i = (values || []).length - 1; i >= 0; i--) if (finite(values[i])) return values[i];
    return null;
  };
  const last = (values) => (values && values.length ? values[values.length - 1] : null);

  function metric(now, chart, bad) {
    return el('div', { class: 'metric' }, el('div', { class: 'now' + (bad ? ' bad' : '') }, now), chart);
  }

  // ---- sections ------------------------------------------------------------------------
  function renderCards(status, services, anomalies, rows) {
    const open = anomalies ? anomalies.anomalies.filter((a) => a.state === 'open') : [];
    const critical = open.filter((a) => a.severity === 'critical').length;
    const totalRate = rows.http.reduce((sum, r) => sum + (finite(r.rate) ? r.rate : 0), 0);
    const dropped = status ? Object.values(status.dropped || {}).reduce((a, b) => a + b, 0) : null;
    const card = (label, value, sub, alert) =>
      el('div', { class: 'card' + (alert ? ' alert' : '') }, el('div', { class: 'label' }, label),
         el('div', { class: 'value' }, value), el('div', { class: 'sub' }, sub));
    replace('cards',
      card('HTTP services', services ? String(rows.http.length) : '–',
           services ? `${rows.other.length} more without HTTP or gone` : ''),
      card('Requests', services ? fmt.rate(totalRate) : '–', 'served, latest window'),
      card('Open anomalies', anomalies ? String(open.length) : '–',
           anomalies ? (critical ? critical + ' critical' : anomalies.enabled === false ? 'detection is off' :
                        `${anomalies.series} series watched`) : '', open.length > 0),
      card('Events', status ? num(status.events.http_exchange) : '–',
           status ? (dropped ? `${num(dropped)} dropped` : 'none dropped') : '', dropped > 0),
      card('Daemon', status ? 'up ' + fmt.duration(status.uptime_seconds) : '–',
           status ? `${status.programs_attached} BPF programs` : ''));
  }

  // Services that serve HTTP (the main table) and the others (processes the daemon knows
  // of: CPU, memory, restarts), each in the order they are drawn.
  function classify(services, anomalies) {
    const openBy = new Map();
    for (const a of (anomalies ? anomalies.anomalies : []))
      if (a.state === 'open') openBy.set(a.service, (openBy.get(a.service) || 0) + 1);
    const http = [], other = [];
    for (const s of (services ? services.services : [])) {
      const r = { name: s.service, s, t: null, rate: null, open: openBy.get(s.service) || 0 };
      (s.http && s.http.requests > 0 ? http : other).push(r);
    }
    const cpu = (r) => (r.s.cpu && finite(r.s.cpu.usage_cores) ? r.s.cpu.usage_cores : 0);
    http.sort((a, b) => (b.s.http.requests - a.s.http.requests) || a.name.localeCompare(b.name));
    other.sort((a, b) => (b.open - a.open) || (cpu(b) - cpu(a)) || a.name.localeCompare(b.name));
    return { http, other };
  }

  function nameCell(r) {
    const pids = (r.s.processes || []).map((p) => p.pid);
    return el('td', { class: 'name' },
      el('div', { class: 'svc' }, r.name, r.open ? el('span', { class: 'svc-flag', title: 'open anomalies' },
                                                        r.open + ' open') : null),
      el('div', { class: 'svc-sub' }, pids.length
        ? `${pids.length} process${pids.length > 1 ? 'es' : ''} · pid ${pids.slice(0, 3).join(', ')}${pids.length > 3 ? '…' : ''}`
        : 'no live process'));
  }
  function resourceCells(r) {
    const t = r.t || {}, cpu = t.cpu_cores || [], mem = t.memory_bytes || [];
    return [
      el('td', {}, metric(fmt.cores(lastFinite(cpu) ?? (r.s.cpu ? r.s.cpu.usage_cores : null)),
                          sparkline([{ values: cpu }], { label: 'CPU cores', format: fmt.cores, fill: true, floor: 0.01 }))),
      el('td', {}, metric(fmt.bytes(lastFinite(mem) ?? (r.s.memory ? r.s.memory.resident_bytes : null)),
                          sparkline([{ values: mem }], { label: 'memory', format: fmt.bytes, fill: true }))),
      el('td', { class: 'num' }, fmt.count(r.s.restarts)),
      el('td', { class: 'num' + (r.s.oom_kills > 0 ? ' bad' : '') }, fmt.count(r.s.oom_kills)),
    ];
  }

  function renderServices(rows, services, timelineNote) {
    // What serves now first, then what has processes, each busiest first; services with
    // neither (gone) join the folded list.
    const live = (r) => (r.rate > 0 ? 2 : 0) + ((r.s.processes || []).length ? 1 : 0);
    rows.other.unshift(...rows.http.filter((r) => !live(r)));
    rows.http = rows.http.filter((r) => live(r));
    rows.http.sort((a, b) => (live(b) - live(a)) || ((b.rate || 0) - (a.rate || 0)) || (b.open - a.open) ||
                             a.name.localeCompare(b.name));
    const body = [];
    for (const r of rows.http.slice(0, MAX_ROWS)) {
      const t = r.t || {};
      const rate = t.requests_per_second || [], err = t.error_ratio || [];
      const p50 = t.p50_seconds || [], p95 = t.p95_seconds || [], p99 = t.p99_seconds || [];
      const serving = last(rate) > 0;
      const nowErr = serving ? last(err) : null;
      const anyErr = err.some((v) => finite(v) && v > 0);
      const latNow = el('span', {}, fmt.seconds(serving ? last(p50) : null), el('span', { class: 'sep' }, ' · '),
                        fmt.seconds(serving ? last(p95) : null), el('span', { class: 'sep' }, ' · '),
                        fmt.seconds(serving ? last(p99) : null));
      body.push(el('tr', { 'data-service': r.name }, nameCell(r),
        el('td', {}, metric(fmt.rate(last(rate)), sparkline([{ values: rate }], { label: 'requests/s', format: fmt.rate, fill: true }))),
        el('td', {}, metric(fmt.ratio(nowErr), sparkline([{ values: err, class: anyErr ? 'err' : '' }],
                                                         { label: '5xx ratio', format: fmt.ratio, fill: true, floor: 0.01 }),
                            finite(nowErr) && nowErr > 0.01)),
        el('td', {}, metric(latNow, sparkline([{ values: p99, class: 'p99' }, { values: p95, class: 'p95' }, { values: p50, class: 'p50' }],
                                              { label: 'p99 (dark), p95, p50', format: fmt.seconds, width: 170 }))),
        ...resourceCells(r)));
    }
    if (body.length === 0)
      body.push(el('tr', {}, el('td', { colspan: 8, class: 'empty' },
                               services ? 'no HTTP traffic seen yet: a service appears here with the first request it answers'
                                        : 'services are not available')));
    replace('services-body', body);
    const more = rows.http.length > MAX_ROWS ? ` · ${rows.http.length - MAX_ROWS} more not shown` : '';
    $('services-note').textContent = (timelineNote || `charts: the last ${POINTS} windows`) + more;

    const others = rows.other.slice(0, MAX_OTHER).map((r) => el('tr', {
      'data-service': r.name, class: (r.s.processes || []).length ? null : 'gone' }, nameCell(r), ...resourceCells(r)));
    replace('others-body', others.length ? others : [el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'none'))]);
    $('others-summary').textContent = `${rows.other.length} other service${rows.other.length === 1 ? '' : 's'}: ` +
      'no HTTP served, or no process left' + (rows.other.length > MAX_OTHER ? ` (${MAX_OTHER} shown)` : '');
  }

  function evidence(a) {
    const e = a.evidence || {}, f = signalFormat(a.signal);
    const dl = el('dl', { class: 'evidence' });
    const row = (k, ...v) => dl.append(el('div', { class: 'ev' }, el('dt', {}, k), el('dd', {}, ...v)));
    row('signal', a.signal.replace(/_/g, ' '), a.role === 'client' ? ' (of its calls to an upstream)' : '');
    row('observed', el('span', { class: 'observed' }, f(e.observed)), ' vs expected ', f(e.expected),
        (finite(e.lower) && finite(e.upper) && e.upper > 0) ? ` (interval ${f(e.lower)} … ${f(e.upper)})` : '');
    if (e.detectors && e.detectors.length)
      row('detectors', e.detectors.map((d) => el('span', { class: 'chip' }, d)));
    const window = [];
    if (finite(e.window_seconds) && e.window_seconds > 0) window.push(`${num(e.window_seconds)} s window`);
    if (e.requests) window.push(`${num(e.requests)} requests`);
    if (e.errors) window.push(`${num(e.errors)} errors`);
    if (e.p99 > 0) window.push('p99 ' + fmt.seconds(e.p99));
    if (window.length) row('window', window.join(' · '));
    if (e.limit > 0) row('limit', f(e.limit) + (e.seconds_to_exhaustion >= 0
                                                  ? ` · reached in ${fmt.duration(e.seconds_to_exhaustion)} at this rate` : ''));
    row('score', `${num(a.score)} (peak ${num(a.peak)})`);
    return dl;
  }

  function renderAnomalies(doc) {
    if (!doc) { replace('anomalies', el('p', { class: 'empty' }, 'anomalies are not available')); return; }
    if (doc.enabled === false) {
      replace('anomalies', el('p', { class: 'empty' }, 'detection is off (detection.enabled: false)'));
      $('anomalies-note').textContent = '';
      return;
    }
    // Critical first, then what services answer (server role) before their calls out, newest first.
    const open = doc.anomalies.filter((a) => a.state === 'open')
      .sort((a, b) => (b.severity === 'critical') - (a.severity === 'critical') ||
                      (a.role === 'client') - (b.role === 'client') || b.opened_at - a.opened_at);
    const resolved = doc.anomalies.filter((a) => a.state !== 'open').sort((a, b) => b.resolved_at - a.resolved_at);
    const items = open.slice(0, MAX_ANOMALIES).map((a) => el('div', { class: 'anomaly ' + a.severity, 'data-type': a.type },
      el('div', { class: 'head' },
        el('span', { class: 'badge ' + a.severity }, a.severity),
        el('span', { class: 'type' }, a.type.replace(/_/g, ' ')),
        el('span', { class: 'where' }, `${a.service} · ${a.endpoint}`),
        el('span', { class: 'since', title: 'since ' + fmt.clock(a.started_at) }, 'since ' + fmt.ago(a.started_at))),
      evidence(a)));
    if (open.length > MAX_ANOMALIES)
      items.push(el('p', { class: 'more' }, `and ${open.length - MAX_ANOMALIES} more open: homeostat anomalies, or /api/v1/anomalies`));
    if (items.length === 0)
      items.push(el('p', { class: 'empty' }, `no open anomalies · ${doc.series} series watched, ` +
                                             `each learnt over ${doc.warmup_windows} windows`));
    if (resolved.length)
      items.push(el('div', { class: 'resolved' }, `Recently resolved (${resolved.length})`,
        el('ul', {}, resolved.slice(0, 5).map((a) => el('li', {},
          `${a.type.replace(/_/g, ' ')} · ${a.service} · ${a.endpoint} — resolved ${fmt.ago(a.resolved_at)} ` +
          `after ${fmt.duration(a.resolved_at - a.started_at)}`)))));
    replace('anomalies', items);
    $('anomalies-note').textContent = `${open.length} open · ${num(doc.window_seconds)} s windows`;
  }

  function renderActions(doc, error) {
    const healing = doc && doc.healing ? doc.healing : null;
    $('actions-note').textContent = healing ? (healing.enabled ? (healing.dry_run ? 'healing: dry run' : 'healing: on')
                                                               : 'healing is off') : '';
    if (!doc) {
      replace('actions', el('p', { class: 'empty' }, error ? error.text : 'actions are not available'));
      return;
    }
    if (doc.actions.length === 0) {
      replace('actions', el('p', { class: 'empty' }, 'no actions yet'));
      return;
    }
    const rows = doc.actions.slice(0, 15).map((a) => el('tr', {},
      el('td', { title: fmt.clock(a.at) }, fmt.ago(a.at)),
      el('td', {}, el('span', { class: 'verdict ' + String(a.verdict).replace(/[^a-z_]/gi, '') }, a.verdict)),
      el('td', {}, el('div', { class: 'svc' }, a.service), el('div', { class: 'svc-sub' }, [a.kind, a.rule].filter(Boolean).join(' · '))),
      el('td', {}, el('div', {}, a.summary), el('div', { class: 'reason' }, a.reason))));
    replace('actions', el('table', { class: 'actions' },
      el('thead', {}, el('tr', {}, el('th', {}, 'When'), el('th', {}, 'Verdict'), el('th', {}, 'Service'),
                                   el('th', {}, 'What and why'))),
      el('tbody', {}, rows)));
  }

  function showProblems(errors) {
    const needToken = errors.some((e) => e.status === 401);
    $('token-form').hidden = !needToken;
    const shown = errors.filter((e) => e.status !== 401);
    if (needToken)
      shown.unshift({ message: token ? 'The API refused the token: paste the right one below.'
                                     : 'The API needs a token: paste it below.' });
    const banner = $('banner');
    banner.hidden = shown.length === 0;
    banner.textContent = shown.map((e) => e.message).join('\n');
    const live = $('live');
    live.className = 'pill ' + (errors.length ? 'pill-err' : 'pill-ok');
    live.textContent = errors.length ? (needToken ? 'needs token' : 'API error') : 'live';
  }

  // ---- the poll ------------------------------------------------------------------------
  async function refresh() {
    clearTimeout(timer);
    const errors = [];
    const get = (path, expected) => api(path).catch((e) => {
      // A 503 that says why (no state database, detection off) is shown where the data
      // would be, not as a failure.
      if (!(expected && e.status === 503)) errors.push(e);
      return { error: e };
    });
    const [status, services, anomalies, actions, list] = await Promise.all([
      get('/api/v1/status'), get('/api/v1/services'), get('/api/v1/anomalies'),
      get('/api/v1/actions?limit=15', true), get('/api/v1/timeline', true)]);
    const ok = (d) => (d && !d.error ? d : null);

    const rows = classify(ok(services), ok(anomalies));
    let timelineNote = '';
    if (ok(list)) {
      const known = new Set(list.services.map((x) => x.service));
      const wanted = rows.http.slice(0, MAX_ROWS);
      if ($('others').open) wanted.push(...rows.other.slice(0, MAX_OTHER));
      await Promise.all(wanted.filter((r) => known.has(r.name)).map(async (r) => {
        const d = await get(`/api/v1/timeline?service=${encodeURIComponent(r.name)}&points=${POINTS}`);
        if (ok(d)) {
          r.t = d;
          r.rate = lastFinite(d.requests_per_second);
        }
      }));
    } else if (list && list.error && list.error.status === 503) {
      timelineNote = 'no charts: ' + list.error.text;
    }

    renderServices(rows, ok(services), timelineNote);
    renderCards(ok(status), ok(services), ok(anomalies), rows);
    renderAnomalies(ok(anomalies));
    renderActions(ok(actions), actions && actions.error && actions.error.status === 503 ? actions.error : null);
    $('daemon').textContent = ok(status) ? `homeostatd ${status.version} · ${status.listen}` : 'homeostatd';
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    showProblems(errors);
    document.body.dataset.ready = 'true'; // for tests: one full poll has been drawn
    timer = setTimeout(refresh, POLL_MS);
  }

  $('others').addEventListener('toggle', () => { if ($('others').open) refresh(); });

  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('token-input').value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    $('token-input').value = '';
    refresh();
  });

  refresh();
})();
