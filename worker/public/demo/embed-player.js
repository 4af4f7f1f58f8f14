// Embed Player: plays one stream by asking the origin, which redirects the player to an edge (the
// SDK follows it). `?stream=NAME` shows the player alone, for iframes.
(function () {
  'use strict';
  const { createSession, SESSION_STATUS, STREAM_STATUS } = window.Fanout;
  const { defaultServerUrl, nodeOf } = window.FanoutDemo;
  const $ = (id) => document.getElementById(id);

  const ui = {
    player: $('player'), screen: $('screen'), playBtn: $('playBtn'), stopBtn: $('stopBtn'), muteBtn: $('muteBtn'),
    name: $('playerName'), state: $('playerState'), streamName: $('streamName'), testBtn: $('testBtn'), embedCode: $('embedCode'),
    tokenField: $('tokenField'),
  };
  const params = new URLSearchParams(location.search);
  const serverUrl = defaultServerUrl();
  const embedded = params.get('stream') !== null;

  let streamName = params.get('stream') || '';
  // A play token (?token=, or the field on the page), for a CDN that requires one.
  let token = params.get('token') || '';
  let session = null;
  let stream = null;

  function show(status, text) {
    ui.player.dataset.status = status;
    ui.state.textContent = text;
  }

  function load(name, newToken) {
    stop();
    streamName = name;
    if (newToken !== undefined) token = newToken;
    ui.name.textContent = name || 'No stream selected';
    show('NEW', name ? 'Ready' : '');
    ui.playBtn.disabled = !name;
    const src = new URL('/embed-player.html', location.href);
    src.searchParams.set('stream', name || 'NAME');
    if (params.get('server')) src.searchParams.set('server', params.get('server'));
    if (token) src.searchParams.set('token', token);
    if (ui.embedCode) {
      ui.embedCode.value = `<iframe src="${src.href}" width="640" height="360" frameborder="0" allow="autoplay; fullscreen" allowfullscreen></iframe>`;
    }
  }

  function play() {
    if (!streamName || stream !== null) return;
    show('PENDING', 'Connecting…');
    const name = streamName;
    let s;
    try {
      s = createSession({ urlServer: serverUrl, ...(token ? { authToken: token } : {}) });
    } catch (err) {
      show('FAILED', err instanceof Error ? err.message : String(err));
      return;
    }
    session = s;
    s.on(SESSION_STATUS.ESTABLISHED, () => {
      show('PENDING', 'Starting…');
      const st = s.createStream({ name, display: ui.screen });
      stream = st;
      st.on(STREAM_STATUS.PLAYING, () => {
        const node = nodeOf(st.getServerUrl() || '');
        ui.player.dataset.node = node;
        show('PLAYING', `Live from ${node}`);
        refreshMute();
      })
        .on(STREAM_STATUS.NOT_ENOUGH_BANDWIDTH, (_, r) => show('PLAYING', `Weak connection: ${r.lossPercent}% lost`))
        .on(STREAM_STATUS.STOPPED, () => ended('STOPPED', st.getInfo() && st.getInfo() !== 'stopped' ? `Stopped: ${st.getInfo()}` : 'Stopped'))
        .on(STREAM_STATUS.FAILED, (_, info) => ended('FAILED', info));
      st.play();
    })
      .on(SESSION_STATUS.FAILED, (_, info) => ended('FAILED', info))
      .on(SESSION_STATUS.DISCONNECTED, () => ended(ui.player.dataset.status === 'FAILED' ? 'FAILED' : 'STOPPED', ui.state.textContent));
  }

  function ended(status, text) {
    const s = session;
    stream = null;
    session = null;
    delete ui.player.dataset.node;
    if (status !== ui.player.dataset.status || text !== ui.state.textContent) show(status, text);
    if (s !== null) s.disconnect();
  }

  function stop() {
    if (stream !== null) stream.stop();
    else if (session !== null) ended('STOPPED', 'Stopped');
  }

  function refreshMute() {
    const video = stream && stream.getVideoElement();
    ui.muteBtn.textContent = video && !video.muted ? 'Mute' : 'Unmute';
  }

  ui.playBtn.addEventListener('click', play);
  ui.stopBtn.addEventListener('click', stop);
  ui.muteBtn.addEventListener('click', () => {
    const video = stream && stream.getVideoElement();
    if (video) video.muted = !video.muted;
    refreshMute();
  });
  if (ui.testBtn) {
    const test = () => load(ui.streamName.value.trim(), ui.tokenField ? ui.tokenField.value.trim() : undefined);
    ui.testBtn.addEventListener('click', test);
    ui.streamName.addEventListener('keydown', (e) => e.key === 'Enter' && test());
    ui.streamName.value = streamName;
    if (ui.tokenField) ui.tokenField.value = token;
  }
  window.addEventListener('pagehide', () => session && session.disconnect());

  load(streamName);
  if (embedded && params.get('autoplay') === '1') play();
})();
