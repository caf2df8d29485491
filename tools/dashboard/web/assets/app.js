// mydev-dashboard's page: follows /events (Server-Sent Events carrying a
// mydev.dashboard.v1.DashboardState as protobuf JSON, proto field names,
// 64-bit integers as strings) and keeps the DOM in step, in place. No
// libraries; charts are drawn on <canvas> here.
//
// Hooks the browser test relies on (keep): section.target[data-target][data-up]
// with .target-status; [data-device] with .pps .bps .drops and canvases;
// tr[data-session-id] with .user .comm .device .pps .drops .fill;
// body.dataset.version / .events; #connection "live" | "reconnecting".
'use strict';

(function () {
  const HISTORY_MS = 10 * 60 * 1000;  // what the charts show
  const MAX_POINTS = 600;
  const COMPACT_TARGETS = 8;          // more targets than this: compact layout

  const targetsEl = document.getElementById('targets');
  const connEl = document.getElementById('connection');
  const summaryEl = document.getElementById('summary');
  const updatedEl = document.getElementById('updated');
  const targets = new Map();  // name -> {el, view, devices: Map, rows: Map, ...}
  let events = 0;
  let lastStateMs = 0;

  // ---------------------------------------------------------------- helpers

  function num(v) {
    if (v === undefined || v === null || v === '') return 0;
    const n = Number(v);
    return Number.isFinite(n) ? n : 0;
  }

  // 1234 -> "1.23k", 0.5 -> "0.5", 12345678 -> "12.3M".
  function human(v) {
    const x = num(v);
    const a = Math.abs(x);
    const units = [[1e15, 'P'], [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
    for (const [scale, suffix] of units) {
      if (a >= scale * 0.9995) return trim(x / scale) + suffix;
    }
    if (a === 0) return '0';
    if (a < 0.01) return '<0.01';
    return trim(x);
  }

  function trim(x) {
    const a = Math.abs(x);
    const digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
    return x.toFixed(digits).replace(/\.0+$|(\.\d*[1-9])0+$/, '$1');
  }

  function nsToMs(v) { return num(v) / 1e6; }

  function clock(ms) {
    const d = new Date(ms);
    return d.toLocaleTimeString([], {hour12: false});
  }

  function ago(ms) {
    let s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + 's';
    const m = Math.floor(s / 60);
    s %= 60;
    if (m < 60) return m + 'm ' + s + 's';
    const h = Math.floor(m / 60);
    return h + 'h ' + (m % 60) + 'm';
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setText(e, text) {
    if (e.textContent !== text) e.textContent = text;
  }

  // Puts `children` in `parent` in this order, moving only what is out of place.
  function order(parent, children, before) {
    let ref = before ? before.nextSibling : parent.firstChild;
    for (const c of children) {
      if (c !== ref) parent.insertBefore(c, ref);
      else ref = ref.nextSibling;
    }
  }

  // ---------------------------------------------------------------- charts

  const visible = new WeakSet();
  const observer = 'IntersectionObserver' in window ? new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (e.isIntersecting) {
        visible.add(e.target);
        const d = e.target.__device;
        if (d) drawDevice(d);
      } else {
        visible.delete(e.target);
      }
    }
  }) : null;

  const CHARTS = [
    {key: 'pps', label: 'packets/s', color: '--pps'},
    {key: 'bps', label: 'bits/s', color: '--bps'},
    {key: 'dps', label: 'drops/s', color: '--drops'},
  ];

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  const colors = {};

  function drawChart(canvas, points, key, colorVar, endMs) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(10, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(10, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    const g = canvas.getContext('2d');
    g.clearRect(0, 0, w, h);
    const color = colors[colorVar] || (colors[colorVar] = cssVar(colorVar) || '#58a6ff');
    // The span grows with the history, from one minute up to HISTORY_MS, so
    // a dashboard started a moment ago does not draw a sliver at the edge.
    const oldestMs = points.length ? points[0].t : endMs;
    const spanMs = Math.min(HISTORY_MS, Math.max(60000, endMs - oldestMs));
    const tickMs = spanMs <= 120000 ? 10000 : 60000;
    const startMs = endMs - spanMs;
    let max = 0;
    for (const p of points) if (p.t >= startMs && p[key] > max) max = p[key];
    const top = niceCeil(max);
    const padTop = 12 * dpr;
    const plotH = h - padTop - 2 * dpr;
    const x = (t) => ((t - startMs) / spanMs) * (w - 1);
    const y = (v) => h - 1 * dpr - (top > 0 ? (v / top) * plotH : 0);

    // Grid: ticks every 10 s or every minute, and a mid line.
    g.strokeStyle = 'rgba(255,255,255,0.05)';
    g.lineWidth = 1;
    g.beginPath();
    for (let m = Math.ceil(startMs / tickMs) * tickMs; m <= endMs; m += tickMs) {
      const gx = Math.round(x(m)) + 0.5;
      g.moveTo(gx, padTop);
      g.lineTo(gx, h);
    }
    const mid = Math.round(y(top / 2)) + 0.5;
    g.moveTo(0, mid);
    g.lineTo(w, mid);
    g.stroke();

    // The series: a line with a faint fill under it.
    let first = -1;
    for (let i = 0; i < points.length; i++) if (points[i].t >= startMs) { first = i; break; }
    if (first >= 0) {
      g.beginPath();
      g.moveTo(x(points[first].t), y(points[first][key]));
      for (let i = first + 1; i < points.length; i++) g.lineTo(x(points[i].t), y(points[i][key]));
      g.strokeStyle = color;
      g.lineWidth = 1.5 * dpr;
      g.lineJoin = 'round';
      g.stroke();
      g.lineTo(x(points[points.length - 1].t), h);
      g.lineTo(x(points[first].t), h);
      g.closePath();
      g.globalAlpha = 0.15;
      g.fillStyle = color;
      g.fill();
      g.globalAlpha = 1;
    }

    // The scale, top right.
    g.font = (10 * dpr) + 'px system-ui, sans-serif';
    g.fillStyle = '#8a94a3';
    g.textAlign = 'right';
    g.textBaseline = 'top';
    g.fillText(top > 0 ? human(top) : '0', w - 3 * dpr, 1 * dpr);
  }

  // The smallest 1/2/5 x 10^n at or above v.
  function niceCeil(v) {
    if (!(v > 0)) return 0;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function drawDevice(d) {
    if (observer && !visible.has(d.el)) return;
    const endMs = d.points.length ? Math.max(d.points[d.points.length - 1].t, lastStateMs) : lastStateMs;
    CHARTS.forEach((c, i) => drawChart(d.canvases[i], d.points, c.key, c.color, endMs));
  }

  // ---------------------------------------------------------------- devices

  function makeDevice(t, name) {
    const e = el('div', 'device-card');
    e.dataset.device = name;
    const head = el('div', 'device-head');
    const d = {
      el: e, points: [],
      name: el('span', 'device-name', name),
      backend: el('span', 'device-backend'),
      state: el('span', 'device-state'),
      sessions: el('span', 'device-sessions'),
      pps: el('span', 'pps', '0'),
      bps: el('span', 'bps', '0'),
      drops: el('span', 'drops', '0'),
      canvases: [],
    };
    const rates = el('span', 'device-rates');
    for (const [valueEl, unit] of [[d.pps, 'pkt/s'], [d.bps, 'bit/s'], [d.drops, 'drops/s']]) {
      const wrap = el('span');
      wrap.append(valueEl, el('span', 'unit', unit));
      rates.append(wrap);
    }
    head.append(d.name, d.backend, d.state, d.sessions, rates);
    const charts = el('div', 'charts');
    for (const c of CHARTS) {
      const box = el('div', 'chart');
      const canvas = el('canvas');
      canvas.dataset.metric = c.key;
      canvas.setAttribute('aria-label', name + ' ' + c.label);
      box.append(canvas, el('span', 'chart-label', c.label));
      charts.append(box);
      d.canvases.push(canvas);
    }
    e.append(head, charts);
    e.__device = d;
    if (observer) observer.observe(e);
    return d;
  }

  function updateDevice(d, v, full) {
    setText(d.backend, v.backend || '');
    setText(d.state, v.state || '?');
    d.state.classList.toggle('not-up', v.state !== 'up');
    d.state.title = v.state_detail || '';
    const n = num(v.sessions);
    setText(d.sessions, n === 1 ? '1 session' : n + ' sessions');
    setText(d.pps, human(v.packets_per_second));
    setText(d.bps, human(v.bits_per_second));
    setText(d.drops, human(v.drops_per_second));
    d.drops.classList.toggle('nonzero', num(v.drops_per_second) > 0);
    d.el.title = 'total: ' + human(v.packets_total) + ' packets, ' + human(num(v.bytes_total)) +
        'B, ' + human(v.ifdrops_total) + ' interface drops';

    const incoming = (v.history || []).map((p) => ({
      t: nsToMs(p.time_ns),
      pps: num(p.packets_per_second),
      bps: num(p.bits_per_second),
      dps: num(p.drops_per_second),
    }));
    if (full) {
      d.points = incoming;
    } else {
      for (const p of incoming) {
        const last = d.points.length ? d.points[d.points.length - 1].t : -Infinity;
        if (p.t > last) d.points.push(p);
      }
    }
    const newest = d.points.length ? d.points[d.points.length - 1].t : 0;
    let drop = 0;
    while (drop < d.points.length && d.points[drop].t < newest - HISTORY_MS) drop++;
    drop = Math.max(drop, d.points.length - MAX_POINTS);
    if (drop > 0) d.points.splice(0, drop);
    drawDevice(d);
  }

  // ---------------------------------------------------------------- sessions

  function makeRow(id) {
    const tr = el('tr');
    tr.dataset.sessionId = id;
    const r = {tr};
    for (const [key, cls] of [['sid', 'sid num'], ['user', 'user'], ['comm', 'comm'],
      ['device', 'device'], ['pps', 'pps num'], ['bps', 'bps num'], ['drops', 'drops num'],
      ['fill', 'fill']]) {
      r[key] = el('td', cls);
      tr.append(r[key]);
    }
    r.sid.textContent = id;
    r.commName = el('span', 'comm-name');
    r.args = el('span', 'args');
    r.comm.append(r.commName, r.args);
    r.bar = el('span', 'fillbar');
    r.barIn = el('span');
    r.bar.append(r.barIn);
    r.pct = el('span', 'pct');
    r.fill.append(r.bar, r.pct);
    return r;
  }

  function updateRow(r, s) {
    setText(r.user, s.user ? s.user : 'uid ' + num(s.uid));
    r.user.title = 'uid ' + num(s.uid) + ', pid ' + num(s.pid);
    setText(r.commName, s.comm || '?');
    const cmd = s.cmdline || '';
    const args = cmd.startsWith(s.comm || '\u0000') ? cmd.slice((s.comm || '').length) : (cmd ? ' ' + cmd : '');
    setText(r.args, args.length > 200 ? args.slice(0, 200) + '\u2026' : args);
    r.comm.title = cmd || s.comm || '';
    setText(r.device, s.device || '');
    setText(r.pps, human(s.packets_per_second));
    setText(r.bps, human(s.bits_per_second));
    setText(r.drops, human(s.drops_total));
    const dropping = num(s.drops_per_second) > 0;
    r.drops.classList.toggle('nonzero', dropping || num(s.drops_total) > 0);
    r.drops.title = human(s.drops_per_second) + ' drops/s';
    const fill = Math.min(1, Math.max(0, num(s.ring_fill_ratio)));
    const pct = Math.round(fill * 100) + '%';
    setText(r.pct, pct);
    r.barIn.style.width = (fill * 100).toFixed(1) + '%';
    r.bar.classList.toggle('warn', fill >= 0.5 && fill < 0.8);
    r.bar.classList.toggle('bad', fill >= 0.8);
    r.tr.classList.toggle('hot', dropping || fill >= 0.5);
  }

  // ---------------------------------------------------------------- targets

  function makeTarget(name) {
    const e = el('section', 'target');
    e.dataset.target = name;
    const head = el('div', 'target-head');
    const t = {
      el: e, devices: new Map(), rows: new Map(),
      name: el('h2', 'target-name', name),
      host: el('span', 'target-host'),
      scope: el('span', 'target-scope'),
      status: el('span', 'target-status'),
      totals: el('span', 'target-totals'),
      banner: el('div', 'down-banner'),
      devicesEl: el('div', 'devices'),
      sessionsWrap: el('div', 'sessions-wrap'),
      tbody: el('tbody'),
    };
    head.append(t.name, t.host, t.scope, t.status, t.totals);
    const table = el('table', 'sessions');
    const thead = el('thead');
    const hr = el('tr');
    for (const [label, cls] of [['id', 'num'], ['who', ''], ['command', ''], ['device', ''],
      ['pkt/s', 'num'], ['bit/s', 'num'], ['drops', 'num'], ['ring fill', '']]) {
      hr.append(el('th', cls, label));
    }
    thead.append(hr);
    table.append(thead, t.tbody);
    t.sessionsWrap.append(table);
    e.append(head, t.banner, t.devicesEl, t.sessionsWrap);
    return t;
  }

  function updateTarget(t, v, full) {
    const up = v.up === true;
    t.el.dataset.up = up ? 'true' : 'false';
    const hostText = (v.host && v.host !== v.name ? v.host + ' \u00b7 ' : '') + (v.address || '');
    setText(t.host, hostText);
    setText(t.scope, v.scope || '');
    t.scope.hidden = !v.scope;
    setText(t.status, up ? 'up' : 'down: ' + (v.down_reason || 'unknown'));
    if (!up) {
      const since = nsToMs(v.down_since_time_ns);
      t.banner.textContent = '';
      t.banner.append('DOWN' + (since > 0 ? ' since ' + clock(since) + ' (' + ago(since) + ')' : '') + ' \u2014 ');
      t.banner.append(el('span', 'reason', v.down_reason || 'no reason given'));
      const last = nsToMs(v.last_snapshot_time_ns);
      if (last > 0) t.banner.append(' \u00b7 last data ' + clock(last));
    }

    // Devices, in the daemon's order.
    const devs = v.devices || [];
    const seen = new Set();
    const els = [];
    let pps = 0, bps = 0, dps = 0;
    for (const dv of devs) {
      const name = dv.name || '?';
      seen.add(name);
      let d = t.devices.get(name);
      if (!d) {
        d = makeDevice(t, name);
        t.devices.set(name, d);
      }
      updateDevice(d, dv, full);
      els.push(d.el);
      pps += num(dv.packets_per_second);
      bps += num(dv.bits_per_second);
      dps += num(dv.drops_per_second);
    }
    for (const [name, d] of t.devices) {
      if (!seen.has(name)) {
        if (observer) observer.unobserve(d.el);
        d.el.remove();
        t.devices.delete(name);
      }
    }
    order(t.devicesEl, els);

    // Sessions, busiest first.
    const sessions = (v.sessions || []).slice().sort((a, b) =>
      num(b.packets_per_second) - num(a.packets_per_second) || num(a.session_id) - num(b.session_id));
    const keep = new Set();
    const rows = [];
    for (const s of sessions) {
      const id = String(s.session_id);
      keep.add(id);
      let r = t.rows.get(id);
      if (!r) {
        r = makeRow(id);
        t.rows.set(id, r);
      }
      updateRow(r, s);
      rows.push(r.tr);
    }
    for (const [id, r] of t.rows) {
      if (!keep.has(id)) {
        r.tr.remove();
        t.rows.delete(id);
      }
    }
    order(t.tbody, rows);
    t.sessionsWrap.classList.toggle('none', rows.length === 0);

    t.totals.textContent = '';
    for (const [value, unit] of [[human(pps), 'pkt/s'], [human(bps), 'bit/s'], [human(dps), 'drops/s'],
      [String(devs.length), devs.length === 1 ? 'device' : 'devices'],
      [String(rows.length), rows.length === 1 ? 'session' : 'sessions']]) {
      const s = el('span');
      s.append(el('b', '', value), ' ' + unit);
      t.totals.append(s);
    }
    return {pps, bps, dps, devices: devs.length, sessions: rows.length};
  }

  // ---------------------------------------------------------------- state

  function apply(state) {
    const full = state.full_history === true;
    lastStateMs = nsToMs(state.time_ns) || Date.now();
    const views = (state.targets || []).slice().sort((a, b) =>
      (a.up === b.up ? 0 : a.up ? 1 : -1) || String(a.name).localeCompare(String(b.name)));
    const seen = new Set();
    const sections = [];
    const sum = {targets: views.length, down: 0, devices: 0, sessions: 0, pps: 0, bps: 0, dps: 0};
    for (const v of views) {
      const name = v.name || v.address || '?';
      seen.add(name);
      let t = targets.get(name);
      if (!t) {
        t = makeTarget(name);
        targets.set(name, t);
      }
      const s = updateTarget(t, v, full);
      if (v.up !== true) sum.down++;
      sum.devices += s.devices;
      sum.sessions += s.sessions;
      sum.pps += s.pps;
      sum.bps += s.bps;
      sum.dps += s.dps;
      sections.push(t.el);
    }
    for (const [name, t] of targets) {
      if (!seen.has(name)) {
        t.el.remove();
        targets.delete(name);
      }
    }
    const empty = document.getElementById('empty');
    if (empty) empty.hidden = sections.length > 0;
    if (empty && sections.length === 0) empty.textContent = 'No targets configured.';
    order(targetsEl, sections, empty);
    document.body.classList.toggle('compact', views.length > COMPACT_TARGETS);
    renderSummary(sum);
    setText(updatedEl, 'updated ' + clock(lastStateMs));
    events++;
    document.body.dataset.version = String(state.version === undefined ? '0' : state.version);
    document.body.dataset.events = String(events);
  }

  function renderSummary(s) {
    summaryEl.textContent = '';
    const items = [
      [String(s.targets), s.targets === 1 ? 'target' : 'targets', false],
      [String(s.down), 'down', s.down > 0],
      [String(s.devices), s.devices === 1 ? 'device' : 'devices', false],
      [String(s.sessions), s.sessions === 1 ? 'session' : 'sessions', false],
      [human(s.pps), 'pkt/s', false],
      [human(s.bps), 'bit/s', false],
      [human(s.dps), 'drops/s', s.dps > 0],
    ];
    for (const [value, label, bad] of items) {
      const e = el('span', bad ? 'bad' : '');
      e.append(el('b', '', value), ' ' + label);
      summaryEl.append(e);
    }
  }

  // ---------------------------------------------------------------- stream

  function setConnection(live) {
    connEl.dataset.state = live ? 'live' : 'reconnecting';
    setText(connEl, live ? 'live' : 'reconnecting');
  }

  let source = null;
  function connect() {
    if (source) source.close();
    source = new EventSource('/events');
    source.onopen = () => setConnection(true);
    source.onmessage = (e) => {
      let state;
      try {
        state = JSON.parse(e.data);
      } catch (err) {
        console.error('mydev-dashboard: bad event', err);
        return;
      }
      setConnection(true);
      apply(state);
    };
    source.onerror = () => {
      setConnection(false);
      // EventSource retries by itself unless the server refused (503, 401):
      // then it is CLOSED and we start over after a pause.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    };
  }

  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const t of targets.values()) for (const d of t.devices.values()) drawDevice(d);
    }, 100);
  });

  setConnection(false);
  connect();
})();
