// Playing as a WCS page does with the WebSDK behind a CDN: createSession({urlServer, lbUrl}) (the
// SDK asks the load balancer which edge to use and connects there), then on ESTABLISHED
// createStream({name, display}).play(). The SDK sends its own offer.
(function () {
  'use strict';
  const SESSION_STATUS = Flashphoner.constants.SESSION_STATUS;
  const STREAM_STATUS = Flashphoner.constants.STREAM_STATUS;
  const { $, report } = window.WebSdkPage;
  let session = null;
  let stream = null;

  Flashphoner.init({});

  $('connectBtn').onclick = () => {
    report('sessionStatus', 'PENDING');
    const options = { urlServer: $('url').value };
    if ($('lbUrl').value !== '') options.lbUrl = $('lbUrl').value;
    session = Flashphoner.createSession(options)
      .on(SESSION_STATUS.ESTABLISHED, (s) => report('sessionStatus', s.status(), s.getServerUrl()))
      .on(SESSION_STATUS.DISCONNECTED, (s) => report('sessionStatus', s.status()))
      .on(SESSION_STATUS.FAILED, (s) => report('sessionStatus', s.status()));
  };

  $('playBtn').onclick = () => {
    stream = session.createStream({ name: $('stream').value, display: $('remoteVideo') });
    for (const status of [STREAM_STATUS.PLAYING, STREAM_STATUS.STOPPED, STREAM_STATUS.FAILED]) {
      stream.on(status, (st) => report('playStatus', st.status(), st.getInfo()));
    }
    stream.play();
    report('playStatus', 'PENDING');
  };

  $('stopBtn').onclick = () => stream && stream.stop();
  $('disconnectBtn').onclick = () => session && session.disconnect();
})();
