// Publishing as a WCS page does with the WebSDK: init, createSession({urlServer}), then on
// ESTABLISHED createStream({name, display}).publish(). H264 is chosen the WebSDK's way, by
// stripping the other video codecs from the offer (createStream's stripCodecs option).
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
    session = Flashphoner.createSession({ urlServer: $('url').value })
      .on(SESSION_STATUS.ESTABLISHED, (s) => report('sessionStatus', s.status(), s.getServerUrl()))
      .on(SESSION_STATUS.DISCONNECTED, (s) => report('sessionStatus', s.status()))
      .on(SESSION_STATUS.FAILED, (s) => report('sessionStatus', s.status()));
  };

  $('publishBtn').onclick = () => {
    const options = { name: $('stream').value, display: $('localVideo') };
    if ($('codec').value === 'H264') options.stripCodecs = 'VP8,VP9,AV1';
    stream = session.createStream(options);
    for (const status of [STREAM_STATUS.PUBLISHING, STREAM_STATUS.UNPUBLISHED, STREAM_STATUS.FAILED]) {
      stream.on(status, (st) => report('publishStatus', st.status(), st.getInfo()));
    }
    stream.publish();
    report('publishStatus', 'PENDING');
  };

  $('stopBtn').onclick = () => stream && stream.stop();
  $('disconnectBtn').onclick = () => session && session.disconnect();
})();
