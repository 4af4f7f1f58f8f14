// Shared by the WebSDK test pages: status lines the test reads (data-status, data-info) and an event
// log (window.__websdk.events) with the time of every status the SDK reported.
(function () {
  'use strict';
  const events = [];
  window.__websdk = { events };
  window.WebSdkPage = {
    $: (id) => document.getElementById(id),
    /** Shows a status as the SDK reported it, and records it. */
    report(what, status, info) {
      const el = document.getElementById(what);
      el.dataset.status = status;
      el.dataset.info = info || '';
      el.textContent = info ? `${status}: ${info}` : status;
      events.push({ what, status, info: info || '', t: performance.now() });
    },
  };
})();
