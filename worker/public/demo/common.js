// Helpers shared by the Fanout demo pages (plain browser JavaScript; the SDK is the global `Fanout`).
(function () {
  'use strict';

  /** The WebSocket URL of the server that served this page, or the `?server=` parameter. */
  function defaultServerUrl() {
    const param = new URLSearchParams(location.search).get('server');
    if (param) return param;
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
  }

  const TONES = {
    ESTABLISHED: 'ok', PUBLISHING: 'ok', PLAYING: 'ok',
    PENDING: 'warn', CONNECTED: 'warn', WARN: 'warn', NOT_ENOUGH_BANDWIDTH: 'warn',
    FAILED: 'bad', DISCONNECTED: 'bad',
  };

  /** Shows `status` (and an optional explanation) in a status line element. */
  function setStatus(el, status, info) {
    el.dataset.status = status;
    el.dataset.tone = TONES[status] || '';
    el.textContent = '';
    const b = document.createElement('b');
    b.textContent = status;
    el.appendChild(b);
    if (info) {
      const span = document.createElement('span');
      span.className = 'info';
      span.textContent = ` ${info}`;
      el.appendChild(span);
    }
  }

  /** "edge-1" out of "ws://edge-1.localhost:8787/" (or the URL's host when it has no node prefix). */
  function nodeOf(url) {
    try {
      const u = new URL(url);
      const m = /^\/node\/([^/]+)/.exec(u.pathname);
      return m ? m[1] : u.hostname.split('.')[0];
    } catch {
      return url;
    }
  }

  function randomName(prefix) {
    return `${prefix}-${Math.random().toString(36).slice(2, 7)}`;
  }

  window.FanoutDemo = { defaultServerUrl, setStatus, nodeOf, randomName };
})();
