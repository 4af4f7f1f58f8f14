// Two Way Streaming: connect to a server, publish the camera, play a stream (any stream: through
// the origin, the SDK follows the CDN's redirect to an edge).
(function () {
  'use strict';
  const { createSession, SESSION_STATUS, STREAM_STATUS } = window.Fanout;
  const { defaultServerUrl, setStatus, nodeOf, randomName } = window.FanoutDemo;
  const $ = (id) => document.getElementById(id);

  const ui = {
    url: $('url'), token: $('token'), connectBtn: $('connectBtn'), connectStatus: $('connectStatus'),
    publishName: $('publishStream'), codec: $('codec'), republish: $('republish'), publishBtn: $('publishBtn'), publishStatus: $('publishStatus'),
    localVideo: $('localVideo'), publishBadge: $('publishBadge'),
    playName: $('playStream'), playBtn: $('playBtn'), playStatus: $('playStatus'),
    remoteVideo: $('remoteVideo'), playBadge: $('playBadge'),
  };

  let session = null;
  let publishing = null;
  let playing = null;
  let playNameEdited = false;

  const params = new URLSearchParams(location.search);
  ui.url.value = defaultServerUrl();
  ui.token.value = params.get('token') || '';
  ui.publishName.value = params.get('stream') || randomName('stream');
  ui.playName.value = ui.publishName.value;
  if (params.get('codec')) ui.codec.value = params.get('codec').toUpperCase();
  ui.publishName.addEventListener('input', () => {
    if (!playNameEdited) ui.playName.value = ui.publishName.value;
  });
  ui.playName.addEventListener('input', () => (playNameEdited = true));

  /** "name: why" when the server (or the SDK) said why a stream ended, else just the name. */
  function withInfo(name, info) {
    return info && info !== 'stopped' ? `${name}: ${info}` : name;
  }

  function established() {
    return session !== null && session.status() === SESSION_STATUS.ESTABLISHED;
  }

  function refreshButtons() {
    ui.connectBtn.textContent = session === null ? 'Connect' : 'Disconnect';
    ui.connectBtn.classList.toggle('stop', session !== null);
    ui.url.disabled = ui.token.disabled = session !== null;
    ui.publishBtn.disabled = !established() && publishing === null;
    ui.publishBtn.textContent = publishing === null ? 'Publish' : 'Stop';
    ui.publishBtn.classList.toggle('stop', publishing !== null);
    ui.publishName.disabled = ui.codec.disabled = publishing !== null;
    ui.playBtn.disabled = !established() && playing === null;
    ui.playBtn.textContent = playing === null ? 'Play' : 'Stop';
    ui.playBtn.classList.toggle('stop', playing !== null);
    ui.playName.disabled = playing !== null;
  }

  // ---------------------------------------------------------------- session

  function connect() {
    const urlServer = ui.url.value.trim();
    const authToken = ui.token.value.trim();
    try {
      // The token goes in the connection frame, and to every edge a player is sent to.
      session = createSession({ urlServer, ...(authToken ? { authToken } : {}) });
    } catch (err) {
      setStatus(ui.connectStatus, 'FAILED', err instanceof Error ? err.message : String(err));
      return;
    }
    setStatus(ui.connectStatus, 'PENDING', urlServer);
    session
      .on(SESSION_STATUS.ESTABLISHED, (s) => {
        setStatus(ui.connectStatus, 'ESTABLISHED', s.getServerUrl());
        refreshButtons();
      })
      .on(SESSION_STATUS.DISCONNECTED, (s, info) => ended(s, 'DISCONNECTED', info.reason))
      .on(SESSION_STATUS.FAILED, (s, info) => ended(s, 'FAILED', info))
      .on(SESSION_STATUS.WARN, (s, info) => setStatus(ui.connectStatus, s.status(), `warning: ${info}`));
    refreshButtons();
  }

  function ended(s, status, info) {
    if (s !== session) return;
    session = null;
    setStatus(ui.connectStatus, status, info);
    refreshButtons();
  }

  ui.connectBtn.addEventListener('click', () => {
    if (session === null) connect();
    else session.disconnect();
  });

  // ---------------------------------------------------------------- publish

  ui.publishBtn.addEventListener('click', () => {
    if (publishing !== null) {
      publishing.stop();
      return;
    }
    if (!established()) return;
    const name = ui.publishName.value.trim();
    if (name === '') {
      setStatus(ui.publishStatus, 'FAILED', 'enter a stream name');
      return;
    }
    const codec = ui.codec.value;
    const stream = session.createStream({ name, display: ui.localVideo, republishOnFailure: ui.republish.checked, ...(codec ? { codec } : {}) });
    publishing = stream;
    const done = (status, info) => {
      if (publishing === stream) publishing = null;
      ui.publishBadge.textContent = '';
      setStatus(ui.publishStatus, status, info);
      refreshButtons();
    };
    stream
      .on(STREAM_STATUS.PENDING, (s) => setStatus(ui.publishStatus, 'PENDING', s.getInfo() || name))
      .on(STREAM_STATUS.PUBLISHING, (s) => {
        setStatus(ui.publishStatus, 'PUBLISHING', `${s.name()}${codec ? ` (${codec})` : ''}`);
        ui.publishBadge.textContent = 'LIVE';
      })
      .on(STREAM_STATUS.NOT_ENOUGH_BANDWIDTH, (s, r) =>
        setStatus(ui.publishStatus, 'PUBLISHING', `${s.name()}: not enough bandwidth, ${r.lossPercent}% lost`))
      .on(STREAM_STATUS.UNPUBLISHED, (s) => done('UNPUBLISHED', withInfo(name, s.getInfo())))
      .on(STREAM_STATUS.FAILED, (s, info) => done('FAILED', info));
    stream.publish();
    refreshButtons();
  });

  // ---------------------------------------------------------------- play

  ui.playBtn.addEventListener('click', () => {
    if (playing !== null) {
      playing.stop();
      return;
    }
    if (!established()) return;
    const name = ui.playName.value.trim();
    if (name === '') {
      setStatus(ui.playStatus, 'FAILED', 'enter a stream name');
      return;
    }
    const stream = session.createStream({ name, display: ui.remoteVideo });
    playing = stream;
    const done = (status, info) => {
      if (playing === stream) playing = null;
      ui.playBadge.textContent = '';
      setStatus(ui.playStatus, status, info);
      refreshButtons();
    };
    stream
      .on(STREAM_STATUS.PENDING, () => setStatus(ui.playStatus, 'PENDING', name))
      .on(STREAM_STATUS.PLAYING, (s) => {
        const node = nodeOf(s.getServerUrl() || '');
        setStatus(ui.playStatus, 'PLAYING', `${s.name()} from ${node}`);
        ui.playBadge.textContent = node;
        ui.remoteVideo.dataset.node = node;
      })
      .on(STREAM_STATUS.NOT_ENOUGH_BANDWIDTH, (s, r) =>
        setStatus(ui.playStatus, 'PLAYING', `${s.name()}: not enough bandwidth, ${r.lossPercent}% lost`))
      .on(STREAM_STATUS.STOPPED, (s) => done('STOPPED', withInfo(name, s.getInfo())))
      .on(STREAM_STATUS.FAILED, (s, info) => done('FAILED', info));
    stream.play();
    refreshButtons();
  });

  window.addEventListener('pagehide', () => session && session.disconnect());
  refreshButtons();
})();
