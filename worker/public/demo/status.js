// CDN status: the live dashboard. Polls GET /status.json (the bridge's view through the worker:
// nodes with health and load, live streams with their edges, viewers per node and Janus's
// bitrates, and a history of viewers) and renders it, including an SVG chart of players and live
// streams over time. Every field is checked before use; nothing from the answer is trusted as is.
(function () {
  'use strict';
  const PERIOD_MS = 2000;
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  $('period').textContent = String(PERIOD_MS / 1000);

  // ------------------------------------------------------------ reading the answer

  const isObject = (x) => typeof x === 'object' && x !== null;
  const num = (x, fallback = 0) => (typeof x === 'number' && Number.isFinite(x) ? x : fallback);
  const str = (x, fallback = '') => (typeof x === 'string' ? x : fallback);

  function bitrateOf(b) {
    if (!isObject(b)) return undefined;
    return { audio: num(b.audio), video: num(b.video) };
  }

  function nodesOf(body) {
    if (!isObject(body) || !Array.isArray(body.nodes)) return [];
    return body.nodes.filter(isObject).map((n) => ({
      id: str(n.id, '?'),
      role: n.role === 'origin' ? 'origin' : 'edge',
      host: str(n.host),
      up: n.up === true,
      since: typeof n.since === 'number' ? n.since : undefined,
      publishers: isObject(n.load) ? num(n.load.publishers) : 0,
      subscribers: isObject(n.load) ? num(n.load.subscribers) : 0,
    }));
  }

  function streamsOf(body) {
    if (!isObject(body) || !Array.isArray(body.streams)) return [];
    return body.streams.filter((s) => isObject(s) && typeof s.name === 'string').map((s) => ({
      name: s.name,
      origin: str(s.origin, 'origin'),
      since: num(s.since),
      publishing: s.publishing === true,
      bitrateIn: bitrateOf(s.bitrateIn),
      cascadeReadyMs: typeof s.cascadeReadyMs === 'number' ? s.cascadeReadyMs : undefined,
      viewers: num(s.viewers),
      nodes: (Array.isArray(s.nodes) ? s.nodes : []).filter(isObject).map((n) => ({
        node: str(n.node, '?'),
        role: n.role === 'origin' ? 'origin' : 'edge',
        state: n.state === 'ready' || n.state === 'pending' ? n.state : 'failed',
        viewers: num(n.viewers),
        bitrateOut: bitrateOf(n.bitrateOut),
      })),
    }));
  }

  function historyOf(body) {
    if (!isObject(body) || !Array.isArray(body.history)) return [];
    return body.history.filter((h) => isObject(h) && typeof h.t === 'number').map((h) => ({ t: h.t, viewers: num(h.viewers), streams: num(h.streams) }));
  }

  // ------------------------------------------------------------ formatting

  function ago(since) {
    if (typeof since !== 'number' || since <= 0) return '';
    const s = Math.max(0, Math.round((Date.now() - since) / 1000));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  function rate(bps) {
    if (bps === undefined) return '—';
    if (bps >= 1e6) return `${(bps / 1e6).toFixed(bps >= 1e7 ? 0 : 1)} Mbit/s`;
    if (bps >= 1e3) return `${Math.round(bps / 1e3)} kbit/s`;
    return `${Math.round(bps)} bit/s`;
  }
  /** A bitrate in a stat card: the number large, its unit small (the text stays "416 kbit/s"). */
  function showRate(el, bps) {
    const [value, unit] = rate(bps).split(' ');
    el.textContent = value;
    if (unit) {
      const small = document.createElement('span');
      small.className = 'unit';
      small.textContent = ` ${unit}`;
      el.appendChild(small);
    }
  }
  const total = (b) => (b === undefined ? undefined : b.audio + b.video);

  function cell(text, className) {
    const td = document.createElement('td');
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function pill(text, tone) {
    const span = document.createElement('span');
    span.className = `pill ${tone}`;
    span.textContent = text;
    return span;
  }

  function emptyRow(tbody, colspan, text) {
    const tr = document.createElement('tr');
    const td = cell(text, 'muted');
    td.colSpan = colspan;
    tr.appendChild(td);
    tbody.appendChild(tr);
  }

  // ------------------------------------------------------------ rendering

  function renderNodes(nodes, streams) {
    const tbody = $('nodes');
    tbody.textContent = '';
    if (nodes.length === 0) emptyRow(tbody, 8, 'No node information.');
    for (const n of nodes) {
      const tr = document.createElement('tr');
      tr.dataset.node = n.id;
      tr.appendChild(cell(n.id)).style.fontWeight = '600';
      tr.appendChild(cell(n.role, 'col-host'));
      tr.appendChild(cell(n.host, 'muted col-host'));
      const health = document.createElement('td');
      health.appendChild(pill(n.up ? 'up' : 'down', n.up ? 'up' : 'down'));
      const since = ago(n.since);
      if (since) {
        const span = document.createElement('span');
        span.className = 'col-host';
        span.textContent = ` for ${since}`;
        health.appendChild(span);
      }
      tr.appendChild(health);
      tr.appendChild(cell(String(n.publishers), 'num publishers'));
      tr.appendChild(cell(String(n.subscribers), 'num players'));
      // What this node sends to its players, summed over the streams it carries.
      let out;
      for (const s of streams) for (const sn of s.nodes) if (sn.node === n.id && sn.bitrateOut) out = (out || 0) + total(sn.bitrateOut);
      tr.appendChild(cell(rate(out), 'num egress'));
      const names = streams.filter((s) => s.nodes.some((sn) => sn.node === n.id && (sn.role === 'origin' || sn.state === 'ready'))).map((s) => s.name);
      tr.appendChild(cell(names.length ? names.join(', ') : '—', 'streams col-streams'));
      tbody.appendChild(tr);
    }
  }

  function renderStreams(streams) {
    const tbody = $('streams');
    tbody.textContent = '';
    if (streams.length === 0) emptyRow(tbody, 6, 'No live stream. Publish one on the Two Way Streaming page.');
    for (const s of streams) {
      const tr = document.createElement('tr');
      tr.dataset.stream = s.name;
      const name = cell(s.name);
      name.style.fontWeight = '600';
      name.appendChild(document.createTextNode(' '));
      name.appendChild(pill(s.publishing ? 'live' : 'starting', s.publishing ? 'up' : 'pending'));
      tr.appendChild(name);
      tr.appendChild(cell(ago(s.since) || '—', 'muted col-host'));
      const ingest = cell(rate(total(s.bitrateIn)), 'num ingest');
      if (s.bitrateIn) ingest.title = `video ${rate(s.bitrateIn.video)}, audio ${rate(s.bitrateIn.audio)}`;
      tr.appendChild(ingest);
      tr.appendChild(cell(String(s.viewers), 'num viewers'));
      const where = document.createElement('td');
      where.className = 'relays';
      for (const n of s.nodes) {
        const chip = document.createElement('span');
        chip.className = `chip ${n.role === 'origin' ? 'origin' : n.state}`;
        chip.dataset.node = n.node;
        chip.title = n.bitrateOut ? `${n.node}: ${n.viewers} players, ${rate(total(n.bitrateOut))} to them` : `${n.node}: ${n.viewers} players`;
        const label = document.createElement('b');
        label.textContent = n.node;
        const count = document.createElement('span');
        count.className = 'count';
        count.textContent = String(n.viewers);
        chip.append(label, count);
        where.appendChild(chip);
      }
      tr.appendChild(where);
      tr.appendChild(cell(s.cascadeReadyMs === undefined ? '—' : `${s.cascadeReadyMs} ms`, 'num muted col-host'));
      tbody.appendChild(tr);
    }
  }

  /** The chart: players (area) and live streams (dashed line) over the bridge's history. */
  function renderChart(history, periodMs) {
    const box = $('chart');
    const W = Math.max(280, Math.round(box.clientWidth || 600));
    const H = 200;
    const pad = { l: 34, r: 12, t: 10, b: 24 };
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('width', String(W));
    svg.setAttribute('height', String(H));
    const el = (name, attrs, text) => {
      const e = document.createElementNS(SVG, name);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
      if (text !== undefined) e.textContent = text;
      svg.appendChild(e);
      return e;
    };
    const now = history.length ? history[history.length - 1].t : Date.now();
    // The bridge keeps ten minutes; a younger history fills the width rather than hugging the right edge.
    const span = Math.max(20_000, history.length ? now - history[0].t : 0);
    const t0 = now - span;
    const top = Math.max(1, ...history.map((h) => Math.max(h.viewers, h.streams)));
    const step = top <= 5 ? 1 : top <= 10 ? 2 : Math.ceil(top / 5 / 5) * 5;
    const yMax = Math.ceil(top / step) * step;
    const x = (t) => pad.l + ((t - t0) / span) * (W - pad.l - pad.r);
    const y = (v) => H - pad.b - (v / yMax) * (H - pad.t - pad.b);
    for (let v = 0; v <= yMax; v += step) {
      el('line', { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v), class: 'grid' });
      el('text', { x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, String(v));
    }
    // A time label every ~150 px at most, so they never run into each other on a phone.
    const ticks = Math.max(1, Math.min(4, Math.floor((W - pad.l - pad.r) / 150)));
    for (let i = 0; i <= ticks; i++) {
      const t = t0 + (span * i) / ticks;
      const label = i === ticks ? 'now' : new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
      el('text', { x: x(t), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle', class: 'axis' }, label);
    }
    if (history.length > 0) {
      const pts = (key) => history.map((h) => `${x(h.t).toFixed(1)},${y(h[key]).toFixed(1)}`);
      const viewers = pts('viewers');
      el('path', { d: `M${x(history[0].t).toFixed(1)},${y(0)} L${viewers.join(' L')} L${x(now).toFixed(1)},${y(0)} Z`, class: 'area' });
      el('polyline', { points: viewers.join(' '), class: 'line viewers' });
      el('polyline', { points: pts('streams').join(' '), class: 'line streams' });
      const last = history[history.length - 1];
      el('circle', { cx: x(last.t), cy: y(last.viewers), r: 3.5, class: 'dot' });
    } else {
      el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis' }, 'No history yet.');
    }
    box.textContent = '';
    box.appendChild(svg);
    box.dataset.samples = String(history.length);
    box.dataset.lastViewers = history.length ? String(history[history.length - 1].viewers) : '';
    const spanText = span < 90_000 ? `${Math.round(span / 1000)} s` : `${Math.round(span / 60_000)} min`;
    $('chartSpan').textContent = history.length ? `· last ${spanText}, a sample every ${Math.round(periodMs / 1000) || 1} s` : '';
  }

  function render(body, httpStatus) {
    const nodes = nodesOf(body).sort((a, b) => (a.role === b.role ? a.id.localeCompare(b.id) : a.role === 'origin' ? -1 : 1));
    const streams = streamsOf(body).sort((a, b) => a.name.localeCompare(b.name));
    const history = historyOf(body);
    renderNodes(nodes, streams);
    renderStreams(streams);
    renderChart(history, isObject(body) ? num(body.historyPeriodMs, PERIOD_MS) : PERIOD_MS);
    const up = nodes.filter((n) => n.up).length;
    const status = isObject(body) && typeof body.status === 'string' ? body.status : `HTTP ${httpStatus}`;
    $('overall').textContent = status;
    $('overall').style.color = status === 'ok' ? 'var(--ok)' : 'var(--bad)';
    $('nodesUp').textContent = `${up} / ${nodes.length}`;
    $('liveStreams').textContent = String(streams.length);
    $('players').textContent = String(nodes.reduce((sum, n) => sum + n.subscribers, 0));
    const ingest = streams.reduce((sum, s) => (s.bitrateIn ? (sum || 0) + total(s.bitrateIn) : sum), undefined);
    const egress = streams.reduce((sum, s) => s.nodes.reduce((acc, n) => (n.bitrateOut ? (acc || 0) + total(n.bitrateOut) : acc), sum), undefined);
    showRate($('ingest'), ingest);
    showRate($('egress'), egress);
    $('mode').textContent = isObject(body) && typeof body.mode === 'string' ? `${body.mode}${body.loadBalancing === false ? ' (off)' : ''}` : '—';
    $('problem').textContent = isObject(body) && typeof body.reason === 'string' ? body.reason : '';
  }

  async function refresh() {
    try {
      const res = await fetch('/status.json', { cache: 'no-store' });
      let body = null;
      try {
        body = await res.json();
      } catch {
        body = null;
      }
      render(body, res.status);
      $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}.`;
      document.body.dataset.updates = String(Number(document.body.dataset.updates || '0') + 1);
    } catch (err) {
      $('problem').textContent = `Cannot reach /status.json: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      setTimeout(refresh, PERIOD_MS);
    }
  }
  refresh();
})();
