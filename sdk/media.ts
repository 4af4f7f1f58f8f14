/**
 * Browser media plumbing: ICE gathering, codec preference, the video element in `display`, and a
 * cache of local media per display. Browser-only (DOM and WebRTC globals); exercised by the
 * end-to-end suite in Chromium.
 */

/** The WebRTC and DOM entry points a stream uses; the defaults are the browser's. */
export interface MediaEnvironment {
  createPeerConnection(config: RTCConfiguration): RTCPeerConnection;
  getUserMedia(constraints: MediaStreamConstraints): Promise<MediaStream>;
  videoCapabilities(): RTCRtpCodec[] | undefined;
}

export const browserMedia: MediaEnvironment = {
  createPeerConnection: (config) => new RTCPeerConnection(config),
  getUserMedia: (constraints) => navigator.mediaDevices.getUserMedia(constraints),
  videoCapabilities: () => RTCRtpSender.getCapabilities?.('video')?.codecs,
};

/**
 * Resolves once the peer connection has gathered all its ICE candidates, or after `timeoutMs` with
 * what it has (the server does not take trickled candidates, so the SDP must carry them).
 */
export function iceGatheringComplete(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      pc.removeEventListener('icecandidate', onCandidate);
      resolve();
    };
    const check = (): void => {
      if (pc.iceGatheringState === 'complete') done();
    };
    // Some browsers signal the end only with a null candidate.
    const onCandidate = (ev: RTCPeerConnectionIceEvent): void => {
      if (ev.candidate === null) done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
    pc.addEventListener('icecandidate', onCandidate);
  });
}

/** Codecs that travel alongside the real one and must stay (retransmission, redundancy, FEC). */
const HELPER_CODECS = /^video\/(rtx|red|ulpfec|flexfec-03)$/i;

/**
 * The codec list for `setCodecPreferences` that offers only `codec` (e.g. "H264", "VP8") plus its
 * helpers, H264 constrained-baseline packetization-mode 1 first. Undefined if the browser has none.
 */
export function preferCodec(capabilities: readonly RTCRtpCodec[], codec: string): RTCRtpCodec[] | undefined {
  const want = `video/${codec}`.toLowerCase();
  const main = capabilities.filter((c) => c.mimeType.toLowerCase() === want);
  if (main.length === 0) return undefined;
  const rank = (c: RTCRtpCodec): number => {
    const f = c.sdpFmtpLine ?? '';
    return (f.includes('packetization-mode=1') ? 0 : 2) + (f.includes('profile-level-id=42e01f') ? 0 : 1);
  };
  main.sort((a, b) => rank(a) - rank(b));
  return [...main, ...capabilities.filter((c) => HELPER_CODECS.test(c.mimeType))];
}

const VIDEO_CLASS = 'fanout-video';

/** The SDK's video element in `display`, created when missing. */
export function videoIn(display: HTMLElement, muted: boolean): HTMLVideoElement {
  let video = display.querySelector<HTMLVideoElement>(`video.${VIDEO_CLASS}`);
  if (video === null) {
    video = document.createElement('video');
    video.className = VIDEO_CLASS;
    video.style.width = '100%';
    video.style.height = '100%';
    video.style.objectFit = 'contain';
    video.style.display = 'block';
    display.appendChild(video);
  }
  video.autoplay = true;
  video.playsInline = true;
  video.muted = muted;
  return video;
}

/** Starts playback; when the browser refuses sound without a user gesture, plays muted instead. */
export async function startPlayback(video: HTMLVideoElement): Promise<void> {
  try {
    await video.play();
  } catch (err) {
    if (err instanceof DOMException && err.name === 'NotAllowedError' && !video.muted) {
      video.muted = true;
      await video.play().catch(() => undefined);
    }
    // AbortError: a newer srcObject replaced this one; nothing to do.
  }
}

/** Removes the SDK's video element from `display`. */
export function removeVideo(display: HTMLElement): void {
  const video = display.querySelector<HTMLVideoElement>(`video.${VIDEO_CLASS}`);
  if (video === null) return;
  video.srcObject = null;
  video.remove();
}

/** Local media kept for `cacheLocalResources`, per display, until reused or released. */
const cache = new WeakMap<HTMLElement, MediaStream>();

export function takeCachedMedia(display: HTMLElement): MediaStream | undefined {
  const media = cache.get(display);
  cache.delete(display);
  if (media === undefined || media.getTracks().some((t) => t.readyState === 'ended')) {
    media?.getTracks().forEach((t) => t.stop());
    return undefined;
  }
  return media;
}

export function cacheMedia(display: HTMLElement, media: MediaStream): void {
  const old = cache.get(display);
  if (old !== undefined && old !== media) old.getTracks().forEach((t) => t.stop());
  cache.set(display, media);
}

export function releaseCachedMedia(display: HTMLElement): void {
  cache.get(display)?.getTracks().forEach((t) => t.stop());
  cache.delete(display);
}
