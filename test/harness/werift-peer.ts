/**
 * werift peers for media tests without a browser: a publisher that sends real RTP from a generated
 * source (VP8 or H264 video, opus audio) and a subscriber that answers Janus's offer and counts what
 * it receives per kind, keyframes included.
 *
 * The generated video is well-formed at the RTP payload level (VP8 payload descriptor and frame
 * header with the keyframe bit and start code; H264 SPS/PPS in a STAP-A, then IDR/non-IDR slices
 * in FU-A) so that Janus sees keyframes exactly as it would from an encoder; the slice data itself
 * is filler, so nothing here decodes pictures (the browser suites do that). A keyframe is sent
 * first and on every PLI, so a subscriber that gets one proves the keyframe request reached the
 * publisher.
 *
 * Always `iceServers: []`: werift's default is a public STUN server, and tests stay on loopback.
 */
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  type RTCRtpTransceiver,
} from 'werift';

export type VideoCodec = 'vp8' | 'h264';

const OPUS = (): RTCRtpCodecParameters =>
  new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 });
const VIDEO_FEEDBACK = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }];
const VP8 = (): RTCRtpCodecParameters =>
  new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: VIDEO_FEEDBACK });
const H264 = (): RTCRtpCodecParameters =>
  new RTCRtpCodecParameters({
    mimeType: 'video/H264',
    clockRate: 90000,
    rtcpFeedback: VIDEO_FEEDBACK,
    parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  });

const MTU_PAYLOAD = 1100;

function waitGathered(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ICE gathering not complete after ${timeoutMs} ms`)), timeoutMs);
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state === 'complete') {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve();
      }
    });
  });
}

function waitConnected(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.connectionState === 'connected') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not connected after ${timeoutMs} ms (state ${pc.connectionState})`)), timeoutMs);
    const sub = pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve();
      } else if (state === 'failed' || state === 'closed') {
        clearTimeout(timer);
        sub.unSubscribe();
        reject(new Error(`connection ${state}`));
      }
    });
  });
}

/** Polls `check` until it holds; rejects naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// ---------------------------------------------------------------- generated media

/** Splits one video frame into RTP payloads for the codec. */
function packetizeVideo(codec: VideoCodec, keyframe: boolean, frameNo: number): Buffer[] {
  if (codec === 'vp8') {
    const size = keyframe ? 3000 : 700;
    const frame = Buffer.alloc(size, frameNo & 0xff);
    // Frame tag: P bit (bit 0) clear on keyframes, version 0, show_frame 1, first partition size.
    const partSize = size - 10;
    const tag = (keyframe ? 0 : 1) | (0 << 1) | (1 << 4) | ((partSize & 0x7) << 5);
    frame[0] = tag;
    frame[1] = (partSize >> 3) & 0xff;
    frame[2] = (partSize >> 11) & 0xff;
    if (keyframe) {
      frame.set([0x9d, 0x01, 0x2a], 3);
      frame.writeUInt16LE(320, 6);
      frame.writeUInt16LE(240, 8);
    }
    const out: Buffer[] = [];
    for (let off = 0; off < size; off += MTU_PAYLOAD) {
      const descriptor = Buffer.from([off === 0 ? 0x10 : 0x00]); // S bit on the first packet, partition 0
      out.push(Buffer.concat([descriptor, frame.subarray(off, off + MTU_PAYLOAD)]));
    }
    return out;
  }
  // H264, packetization-mode 1.
  const out: Buffer[] = [];
  if (keyframe) {
    const sps = Buffer.from([0x67, 0x42, 0xe0, 0x1f, 0x8c, 0x8d, 0x40, 0x50, 0x1e, 0xd0, 0x0f, 0x08, 0x84, 0x6a]);
    const pps = Buffer.from([0x68, 0xce, 0x3c, 0x80]);
    const stapA = Buffer.concat([
      Buffer.from([0x18]),
      Buffer.from([sps.length >> 8, sps.length & 0xff]),
      sps,
      Buffer.from([pps.length >> 8, pps.length & 0xff]),
      pps,
    ]);
    out.push(stapA);
  }
  const nalType = keyframe ? 5 : 1;
  const nalHeader = (3 << 5) | nalType;
  const body = Buffer.alloc(keyframe ? 3000 : 700, frameNo & 0xff);
  for (let off = 0; off < body.length; off += MTU_PAYLOAD) {
    const start = off === 0;
    const end = off + MTU_PAYLOAD >= body.length;
    const fuIndicator = (nalHeader & 0xe0) | 28;
    const fuHeader = (start ? 0x80 : 0) | (end ? 0x40 : 0) | nalType;
    out.push(Buffer.concat([Buffer.from([fuIndicator, fuHeader]), body.subarray(off, off + MTU_PAYLOAD)]));
  }
  return out;
}

/** Whether an RTP payload starts a keyframe, for the codec's payload format. */
export function isKeyframePayload(codec: VideoCodec, payload: Buffer): boolean {
  if (payload.length < 2) return false;
  if (codec === 'vp8') {
    let i = 0;
    const first = payload[i]!;
    const s = (first & 0x10) !== 0;
    const pid = first & 0x07;
    if ((first & 0x80) !== 0) {
      const ext = payload[++i]!;
      if ((ext & 0x80) !== 0) i += (payload[i + 1]! & 0x80) !== 0 ? 2 : 1;
      if ((ext & 0x40) !== 0) i += 1;
      if ((ext & 0x30) !== 0) i += 1;
    }
    i += 1;
    if (!s || pid !== 0 || payload.length < i + 3) return false;
    return (payload[i]! & 0x01) === 0;
  }
  const type = payload[0]! & 0x1f;
  if (type === 5 || type === 7) return true;
  if (type === 28) return (payload[1]! & 0x1f) === 5 && (payload[1]! & 0x80) !== 0;
  if (type === 24) {
    let i = 1;
    while (i + 2 < payload.length) {
      const size = payload.readUInt16BE(i);
      const t = payload[i + 2]! & 0x1f;
      if (t === 5 || t === 7) return true;
      i += 2 + size;
    }
  }
  return false;
}

// ---------------------------------------------------------------- publisher

export interface PublisherOptions {
  audio?: boolean;
  /** Video codec, or false for audio-only. */
  video?: VideoCodec | false;
  /** Also send a keyframe every this many ms (0: only the first and on PLI). */
  keyframeIntervalMs?: number;
}

export class WeriftPublisher {
  readonly pc: RTCPeerConnection;
  readonly audio: boolean;
  readonly video: VideoCodec | false;
  readonly sent = { audio: 0, video: 0, keyframes: 0 };
  /** Keyframe requests (PLI) received from Janus. */
  plis = 0;
  readonly #audioTrack: MediaStreamTrack | undefined;
  readonly #videoTrack: MediaStreamTrack | undefined;
  readonly #keyframeIntervalMs: number;
  #timers: NodeJS.Timeout[] = [];
  #wantKeyframe = true;
  #lastKeyframe = 0;
  #closed = false;

  constructor(opts: PublisherOptions = {}) {
    this.audio = opts.audio ?? true;
    this.video = opts.video ?? 'vp8';
    this.#keyframeIntervalMs = opts.keyframeIntervalMs ?? 0;
    if (!this.audio && this.video === false) throw new Error('a publisher needs audio or video');
    this.pc = new RTCPeerConnection({
      iceServers: [],
      codecs: {
        audio: [OPUS()],
        video: this.video === 'h264' ? [H264()] : [VP8()],
      },
    });
    if (this.audio) {
      this.#audioTrack = new MediaStreamTrack({ kind: 'audio' });
      this.pc.addTransceiver(this.#audioTrack, { direction: 'sendonly' });
    }
    if (this.video !== false) {
      this.#videoTrack = new MediaStreamTrack({ kind: 'video' });
      const t: RTCRtpTransceiver = this.pc.addTransceiver(this.#videoTrack, { direction: 'sendonly' });
      t.sender.onPictureLossIndication.subscribe(() => {
        this.plis++;
        this.#wantKeyframe = true;
      });
    }
  }

  /** Creates the offer and waits for ICE gathering, so the SDP carries every candidate. */
  async offer(): Promise<string> {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    await waitGathered(this.pc, 5000);
    const sdp = this.pc.localDescription?.sdp;
    if (sdp === undefined) throw new Error('no local description');
    return sdp;
  }

  /** Applies Janus's answer; media starts once connected. */
  async accept(answer: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    void waitConnected(this.pc, 15_000).then(
      () => this.#start(),
      () => undefined,
    );
  }

  connected(timeoutMs = 10_000): Promise<void> {
    return waitConnected(this.pc, timeoutMs);
  }

  #start(): void {
    if (this.#closed) return;
    if (this.#audioTrack !== undefined) {
      const track = this.#audioTrack;
      let seq = Math.floor(Math.random() * 65535);
      let ts = Math.floor(Math.random() * 2 ** 31);
      const opus = Buffer.alloc(60, 0x55);
      opus[0] = 0xf8; // TOC: CELT fullband 20 ms, mono, one frame
      this.#timers.push(
        setInterval(() => {
          track.writeRtp(new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: ts, marker: false }), opus));
          seq = (seq + 1) & 0xffff;
          ts = (ts + 960) >>> 0;
          this.sent.audio++;
        }, 20),
      );
    }
    if (this.#videoTrack !== undefined && this.video !== false) {
      const track = this.#videoTrack;
      const codec = this.video;
      let seq = Math.floor(Math.random() * 65535);
      let ts = Math.floor(Math.random() * 2 ** 31);
      let frameNo = 0;
      this.#timers.push(
        setInterval(() => {
          const now = Date.now();
          const periodic = this.#keyframeIntervalMs > 0 && now - this.#lastKeyframe >= this.#keyframeIntervalMs;
          const keyframe = this.#wantKeyframe || periodic;
          if (keyframe) {
            this.#wantKeyframe = false;
            this.#lastKeyframe = now;
            this.sent.keyframes++;
          }
          const payloads = packetizeVideo(codec, keyframe, frameNo++);
          payloads.forEach((p, i) => {
            const marker = i === payloads.length - 1;
            track.writeRtp(new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: ts, marker }), p));
            seq = (seq + 1) & 0xffff;
            this.sent.video++;
          });
          ts = (ts + 3000) >>> 0;
        }, 33),
      );
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.pc.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- subscriber

export interface ReceivedCounts {
  audio: number;
  video: number;
  keyframes: number;
  /** Video codec Janus offered and the subscriber accepted, lowercase ("vp8", "h264"). */
  videoCodec: string | undefined;
  /** ms from `answer()` to the first keyframe, when one arrived. */
  firstKeyframeMs: number | undefined;
}

/** Measures the longest time without a video RTP packet at a subscriber, from `watchVideoGaps()` on. */
export interface GapMeter {
  /** The longest gap so far (ms), counting the time since the last packet as one too. */
  maxGapMs(): number;
  /** Stops measuring; returns the longest gap, the time since the last packet included. */
  stop(): number;
}

export class WeriftSubscriber {
  readonly pc: RTCPeerConnection;
  readonly received: ReceivedCounts = { audio: 0, video: 0, keyframes: 0, videoCodec: undefined, firstKeyframeMs: undefined };
  #answeredAt = 0;
  #closed = false;
  /** Running gap meters: each the time of its last video packet and its longest gap. */
  readonly #meters = new Set<{ last: number; max: number }>();

  constructor() {
    this.pc = new RTCPeerConnection({
      iceServers: [],
      codecs: { audio: [OPUS()], video: [VP8(), H264()] },
    });
    this.pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        if (track.kind === 'audio') {
          this.received.audio++;
          return;
        }
        this.received.video++;
        const now = Date.now();
        for (const m of this.#meters) {
          m.max = Math.max(m.max, now - m.last);
          m.last = now;
        }
        const mime = track.codec?.mimeType.toLowerCase() ?? '';
        const codec: VideoCodec | undefined = mime.endsWith('/vp8') ? 'vp8' : mime.endsWith('/h264') ? 'h264' : undefined;
        if (codec === undefined) return;
        this.received.videoCodec = codec;
        if (isKeyframePayload(codec, rtp.payload)) {
          this.received.keyframes++;
          this.received.firstKeyframeMs ??= Date.now() - this.#answeredAt;
        }
      });
    });
  }

  /**
   * Starts measuring the longest gap between video RTP packets (the first gap counts from now), for
   * a window the caller ends with `stop()`.
   */
  watchVideoGaps(): GapMeter {
    const m = { last: Date.now(), max: 0 };
    this.#meters.add(m);
    let stopped: number | undefined;
    const current = (): number => Math.max(m.max, Date.now() - m.last);
    return {
      maxGapMs: () => stopped ?? current(),
      stop: () => {
        if (stopped === undefined) {
          stopped = current();
          this.#meters.delete(m);
        }
        return stopped;
      },
    };
  }

  /** Answers Janus's offer (recvonly), waiting for ICE gathering. */
  async answer(offer: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    await waitGathered(this.pc, 5000);
    this.#answeredAt = Date.now();
    const sdp = this.pc.localDescription?.sdp;
    if (sdp === undefined) throw new Error('no local description');
    return sdp;
  }

  /**
   * Offers itself, as the Flashphoner WebSDK and WHEP players do: recvonly transceivers (audio,
   * then video, unless `kinds` says otherwise), sent without waiting for candidates unless `gather`.
   */
  async offer(kinds: ReadonlyArray<'audio' | 'video'> = ['audio', 'video'], gather = false): Promise<string> {
    for (const kind of kinds) this.pc.addTransceiver(kind, { direction: 'recvonly' });
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    if (gather) await waitGathered(this.pc, 5000);
    this.#answeredAt = Date.now();
    const sdp = gather ? this.pc.localDescription?.sdp : offer.sdp;
    if (sdp === undefined) throw new Error('no local description');
    return sdp;
  }

  /** Applies the answer to `offer()`. */
  async accept(answer: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
  }

  connected(timeoutMs = 10_000): Promise<void> {
    return waitConnected(this.pc, timeoutMs);
  }

  /** Waits for RTP on the given kinds and, with `keyframe`, a video keyframe. */
  async media(opts: { audio?: boolean; video?: boolean; keyframe?: boolean; timeoutMs?: number }): Promise<void> {
    const r = this.received;
    await until(
      `media (${JSON.stringify(opts)}; got ${JSON.stringify(r)})`,
      () => (!opts.audio || r.audio > 0) && (!opts.video || r.video > 0) && (!opts.keyframe || r.keyframes > 0),
      opts.timeoutMs ?? 10_000,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.pc.close().catch(() => undefined);
  }
}
