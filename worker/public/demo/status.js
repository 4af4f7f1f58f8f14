// CDN status: polls GET /health (the bridge's view of every node, through the worker) and renders
// health and load. When the worker also lists the live streams (`streams: [{name, edges}]` in
// /health), they are shown per node.
(function () {
  'use strict';
  const PERIOD_MS = 2000;
  const $ = (id) => document.getElementById(id);
  $('period').textContent = String(PERIOD_MS / 1000);

  function cell(text, className) {
    const td = document.createElement('td');
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function ago(since) {
    if (typeof since !== 'number') return '';
    const s = Math.max(0, Math.round((Date.now() - since) / 1000));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  function isObject(x) {
    return typeof x === 'object' && x !== null;
  }

  /** The node list of a /health answer, checked field by field (never trusted as is). */
  function nodesOf(body) {
    if (!isObject(body) || !Array.isArray(body.nodes)) return [];
    return body.nodes.filter(isObject).map((n) => ({
      id: String(n.id ?? '?'),
      role: n.role === 'origin' ? 'origin' : 'edge',
      host: typeof n.host === 'string' ? n.host : '',
      up: n.up === true,
      since: typeof n.since === 'number' ? n.since : undefined,
      publishers: isObject(n.load) && typeof n.load.publishers === 'number' ? n.load.publishers : 0,
      subscribers: isObject(n.load) && typeof n.load.subscribers === 'number' ? n.load.subscribers : 0,
    }));
  }

  /** Stream names per node id, when the answer has them. */
  function streamsOf(body) {
    const byNode = new Map();
    if (!isObject(body) || !Array.isArray(body.streams)) return undefined;
    for (const s of body.streams) {
      if (!isObject(s) || typeof s.name !== 'string') continue;
      const where = Array.isArray(s.edges) ? s.edges : [];
      for (const node of [typeof s.origin === 'string' ? s.origin : 'origin', ...where]) {
        if (typeof node !== 'string') continue;
        byNode.set(node, [...(byNode.get(node) || []), s.name]);
      }
    }
    return { count: body.streams.length, byNode };
  }

  function render(body, httpStatus) {
    const nodes = nodesOf(body).sort((a, b) => (a.role === b.role ? a.id.localeCompare(b.id) : a.role === 'origin' ? -1 : 1));
    const streams = streamsOf(body);
    const tbody = $('nodes');
    tbody.textContent = '';
    if (nodes.length === 0) {
      const tr = document.createElement('tr');
      tr.appendChild(cell('No node information.', 'muted')).colSpan = 7;
      tbody.appendChild(tr);
    }
    for (const n of nodes) {
      const tr = document.createElement('tr');
      tr.dataset.node = n.id;
      tr.appendChild(cell(n.id)).style.fontWeight = '600';
      tr.appendChild(cell(n.role));
      tr.appendChild(cell(n.host, 'muted col-host'));
      const health = document.createElement('td');
      const pill = document.createElement('span');
      pill.className = `pill ${n.up ? 'up' : 'down'}`;
      pill.textContent = n.up ? 'up' : 'down';
      health.appendChild(pill);
      const since = ago(n.since);
      if (since) health.appendChild(document.createTextNode(` for ${since}`));
      tr.appendChild(health);
      tr.appendChild(cell(String(n.publishers), 'num publishers'));
      tr.appendChild(cell(String(n.subscribers), 'num players'));
      const names = streams ? streams.byNode.get(n.id) : undefined;
      tr.appendChild(cell(names ? names.join(', ') : streams ? '—' : n.role === 'origin' ? `${n.publishers} live` : n.up ? 'every live stream' : '—', 'streams col-streams'));
      tbody.appendChild(tr);
    }
    const origin = nodes.find((n) => n.role === 'origin');
    const up = nodes.filter((n) => n.up).length;
    $('overall').textContent = isObject(body) && typeof body.status === 'string' ? body.status : `HTTP ${httpStatus}`;
    $('overall').style.color = isObject(body) && body.status === 'ok' ? 'var(--ok)' : 'var(--bad)';
    $('nodesUp').textContent = `${up} / ${nodes.length}`;
    $('liveStreams').textContent = String(streams ? streams.count : origin ? origin.publishers : 0);
    $('players').textContent = String(nodes.reduce((sum, n) => sum + n.subscribers, 0));
    $('mode').textContent = isObject(body) && typeof body.mode === 'string' ? `${body.mode}${body.loadBalancing === false ? ' (off)' : ''}` : '—';
    $('problem').textContent = isObject(body) && typeof body.reason === 'string' ? body.reason : '';
  }

  async function refresh() {
    try {
      const res = await fetch('/health', { cache: 'no-store' });
      let body = null;
      try {
        body = await res.json();
      } catch {
        body = null;
      }
      render(body, res.status);
      $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    } catch (err) {
      $('problem').textContent = `Cannot reach /health: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      setTimeout(refresh, PERIOD_MS);
    }
  }
  refresh();
})();
