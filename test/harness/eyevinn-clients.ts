/**
 * The WHIP/WHEP clients the browser tests use, as one entry for esbuild: bundled as an IIFE, it
 * defines `window.Eyevinn` in the page (see test/integration/whip-whep.test.ts).
 */
export { WHIPClient } from '@eyevinn/whip-web-client';
export { WebRTCPlayer } from '@eyevinn/webrtc-player';
