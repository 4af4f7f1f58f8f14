/**
 * The benchmark's page code, bundled by esbuild into one script and run in headless Chromium
 * (bench/browser.ts). It plays a stream two ways and times both the same way:
 *
 *  - `fanoutPlay`: Fanout's SDK as a viewer uses it: createSession on the origin, play, the origin's
 *    redirect to an edge, the edge's offer, the answer.
 *  - `janusPlay`: a raw Janus WebSocket straight to an edge's Janus, as plain Janus would be used:
 *    create, attach, join as a subscriber of the edge's remote publisher, answer Janus's offer,
 *    trickle both ways. No worker, no bridge.
 *
 * Both clocks start just before the first network action (createSession / new WebSocket) and stop
 * at the first video frame presented (requestVideoFrameCallback), so page load is not counted.
 * It also publishes (`fanoutPublish`) for the publisher tab.
 */
import type * as FanoutSdk from '../../sdk/index.ts';
import { errorText } from '../../protocol/errors.ts';

declare global {
  interface Window {
    Fanout: typeof FanoutSdk;
    fanoutBench: typeof api;
  }
}

/** Milestones in ms since the trial's start (performance.now() based). */
export type Marks = Record<string, number>;

export interface PlayResult {
  ok: boolean;
  /** ms from asking to the first presented frame. */
  ttffMs?: number;
  marks: Marks;
  /** Which node served the play (Fanout: from the SDK's edge URL). */
  node?: string;
  /** The `s=` line of the server's session description (e.g. "VideoRoom 123"). */
  sdpSession?: string;
  /** Epoch ms of the trial's start (the same clock in every tab). */
  startedAt: number;
  error?: string;
}

export interface FanoutPlayArgs {
  urlServer: string;
  stream: string;
  timeoutMs: number;
}

export interface JanusPlayArgs {
  url: string;
  apiSecret: string;
  room: number;
  feed: number;
  node: string;
  timeoutMs: number;
}

export interface PublishArgs {
  urlServer: string;
  stream: string;
  timeoutMs: number;
}

export interface PublishResult {
  ok: boolean;
  /** Epoch ms of the trial's start. */
  startedAt: number;
  marks: Marks;
  error?: string;
}

/**
 * The `s=` line of every remote description the page applied: Janus names its sessions after the
 * plugin that made them ("VideoRoom <room>", a Streaming mountpoint's name), which tells which play
 * path served a Fanout player without any hook in Fanout.
 */
const remoteSessionNames: string[] = [];
type SetRemote = (this: RTCPeerConnection, desc: RTCSessionDescriptionInit) => Promise<void>;
const originalSetRemote: SetRemote = RTCPeerConnection.prototype.setRemoteDescription;
const recordingSetRemote: SetRemote = function (desc) {
  const name = desc.sdp === undefined ? undefined : /^s=(.*)$/m.exec(desc.sdp)?.[1];
  if (name !== undefined) remoteSessionNames.push(name.trim());
  return originalSetRemote.call(this, desc);
};
RTCPeerConnection.prototype.setRemoteDescription = recordingSetRemote;

/** Everything a trial opened, so `closeAll` can end it whatever state it is in. */
const closers = new Set<() => void>();
let nextId = 0;

function holder(): HTMLElement {
  const div = document.createElement('div');
  div.className = 'player';
  div.id = `p${nextId++}`;
  document.getElementById('players')?.append(div);
  return div;
}

/** Resolves with performance.now() when the first frame of `video` is presented. */
function firstFrame(video: HTMLVideoElement): Promise<number> {
  return new Promise((resolve) => {
    let done = false;
    const mark = (): void => {
      if (done || video.videoWidth === 0) return;
      done = true;
      resolve(performance.now());
    };
    video.requestVideoFrameCallback(() => mark());
    video.addEventListener('resize', mark);
    video.addEventListener('loadeddata', mark);
  });
}

/** The first `<video>` put into `el` (the SDK creates its own). */
function videoAppearing(el: HTMLElement): Promise<HTMLVideoElement> {
  const existing = el.querySelector('video');
  if (existing !== null) return Promise.resolve(existing);
  return new Promise((resolve) => {
    const obs = new MutationObserver(() => {
      const v = el.querySelector('video');
      if (v !== null) {
        obs.disconnect();
        resolve(v);
      }
    });
    obs.observe(el, { childList: true, subtree: true });
  });
}

function timeout<T>(ms: number, what: string): Promise<T> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no first frame within ${ms} ms`)), ms));
}

/** `{ [key]: value }`, or nothing when value is undefined (exactOptionalPropertyTypes). */
function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

const message = errorText;

function nodeOfUrl(url: string): string {
  try {
    const u = new URL(url);
    const m = /\/node\/([^/]+)/.exec(u.pathname);
    return m?.[1] ?? u.hostname.split('.')[0] ?? '';
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------- Fanout

async function fanoutPlay(a: FanoutPlayArgs): Promise<PlayResult> {
  const { createSession, SESSION_STATUS, STREAM_STATUS } = window.Fanout;
  const marks: Marks = {};
  const el = holder();
  const t0 = performance.now();
  const at = (name: string): void => {
    marks[name] ??= performance.now() - t0;
  };
  let node = '';
  // The first frame can come before PLAYING (a status the server sends on its own path): then the
  // node is read from the stream's server URL.
  let played: { getServerUrl(): string | undefined } | undefined;
  const startedAt = performance.timeOrigin + t0;
  const names = remoteSessionNames.length;
  const sdpSession = (): string | undefined => remoteSessionNames[names];
  const session = createSession({ urlServer: a.urlServer });
  const close = (): void => {
    try {
      session.disconnect();
    } catch {
      // already closed
    }
    el.remove();
  };
  closers.add(close);
  const failed = new Promise<never>((_, reject) => {
    session.on(SESSION_STATUS.FAILED, (_s, info) => reject(new Error(`session failed: ${info}`)));
    session.on(SESSION_STATUS.ESTABLISHED, () => {
      at('established');
      const stream = session.createStream({ name: a.stream, display: el, bandwidthMonitor: false });
      played = stream;
      stream
        .on(STREAM_STATUS.PLAYING, (s) => {
          at('playing');
          node = nodeOfUrl(s.getServerUrl() ?? '');
        })
        .on(STREAM_STATUS.FAILED, (_s, info) => reject(new Error(`play failed: ${info}`)))
        .on(STREAM_STATUS.STOPPED, () => reject(new Error('stopped before the first frame')));
      stream.play();
    });
  });
  try {
    const frameAt = await Promise.race([
      videoAppearing(el).then((v) => {
        at('video');
        return firstFrame(v);
      }),
      failed,
      timeout<number>(a.timeoutMs, 'fanout'),
    ]);
    if (node === '') node = nodeOfUrl(played?.getServerUrl() ?? '');
    return { ok: true, ttffMs: frameAt - t0, marks, node, startedAt, ...opt('sdpSession', sdpSession()) };
  } catch (err) {
    return { ok: false, marks, node, startedAt, error: message(err) };
  }
}

async function fanoutPublish(a: PublishArgs): Promise<PublishResult> {
  const { createSession, SESSION_STATUS, STREAM_STATUS } = window.Fanout;
  const marks: Marks = {};
  const el = holder();
  const t0 = performance.now();
  const at = (name: string): void => {
    marks[name] ??= performance.now() - t0;
  };
  const startedAt = performance.timeOrigin + t0;
  const session = createSession({ urlServer: a.urlServer });
  closers.add(() => {
    try {
      session.disconnect();
    } catch {
      // already closed
    }
    el.remove();
  });
  try {
    await Promise.race([
      new Promise<void>((resolve, reject) => {
        session.on(SESSION_STATUS.FAILED, (_s, info) => reject(new Error(`session failed: ${info}`)));
        session.on(SESSION_STATUS.ESTABLISHED, () => {
          at('established');
          const stream = session
            .createStream({ name: a.stream, display: el, bandwidthMonitor: false, codec: 'VP8' })
            .on(STREAM_STATUS.PUBLISHING, () => {
              at('publishing');
              resolve();
            })
            .on(STREAM_STATUS.FAILED, (_s, info) => reject(new Error(`publish failed: ${info}`)));
          at('publishCalled');
          stream.publish();
        });
      }),
      timeout<void>(a.timeoutMs, 'publish'),
    ]);
    return { ok: true, marks, startedAt };
  } catch (err) {
    return { ok: false, marks, startedAt, error: message(err) };
  }
}

// ---------------------------------------------------------------- raw Janus

interface JanusMsg {
  janus: string;
  transaction?: string;
  sender?: number;
  data?: { id?: number };
  error?: { code: number; reason: string };
  plugindata?: { data?: Record<string, unknown> };
  jsep?: { type: RTCSdpType; sdp: string };
  candidate?: RTCIceCandidateInit & { completed?: boolean };
}

async function janusPlay(a: JanusPlayArgs): Promise<PlayResult> {
  const marks: Marks = {};
  const el = holder();
  const t0 = performance.now();
  const at = (name: string): void => {
    marks[name] ??= performance.now() - t0;
  };
  const startedAt = performance.timeOrigin + t0;
  const names = remoteSessionNames.length;
  const ws = new WebSocket(a.url, 'janus-protocol');
  const pc = new RTCPeerConnection({ iceServers: [] });
  const close = (): void => {
    pc.close();
    ws.close();
    el.remove();
  };
  closers.add(close);
  const waiting = new Map<string, { resolve: (m: JanusMsg) => void; reject: (e: Error) => void }>();
  let tx = 0;
  let session = 0;
  let handle = 0;
  const remoteCandidates: RTCIceCandidateInit[] = [];
  let remoteSet = false;
  let fail: (e: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));

  ws.onmessage = (ev: MessageEvent<string>) => {
    const m = JSON.parse(ev.data) as JanusMsg;
    if (m.janus === 'ack') return;
    if (m.janus === 'trickle' && m.candidate !== undefined) {
      if (m.candidate.completed === true) return;
      if (remoteSet) void pc.addIceCandidate(m.candidate).catch(() => undefined);
      else remoteCandidates.push(m.candidate);
      return;
    }
    if (m.janus === 'webrtcup') at('webrtcup');
    if (m.janus === 'hangup') fail(new Error('janus hung up'));
    if (m.transaction !== undefined) {
      const w = waiting.get(m.transaction);
      if (w === undefined) return;
      waiting.delete(m.transaction);
      if (m.janus === 'error' || m.error !== undefined) w.reject(new Error(`janus ${m.error?.code} ${m.error?.reason}`));
      else w.resolve(m);
    }
  };
  ws.onclose = () => fail(new Error('janus websocket closed'));
  const send = (msg: Record<string, unknown>): Promise<JanusMsg> => {
    const transaction = `t${tx++}`;
    return new Promise((resolve, reject) => {
      waiting.set(transaction, { resolve, reject });
      ws.send(JSON.stringify({ ...msg, transaction, apisecret: a.apiSecret }));
    });
  };

  const run = async (): Promise<number> => {
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`cannot open ${a.url}`));
    });
    at('wsOpen');
    session = (await send({ janus: 'create' })).data?.id ?? 0;
    handle = (await send({ janus: 'attach', session_id: session, plugin: 'janus.plugin.videoroom' })).data?.id ?? 0;
    at('attached');
    pc.onicecandidate = (ev) => {
      ws.send(
        JSON.stringify({
          janus: 'trickle',
          session_id: session,
          handle_id: handle,
          transaction: `c${tx++}`,
          apisecret: a.apiSecret,
          candidate: ev.candidate === null ? { completed: true } : ev.candidate.toJSON(),
        }),
      );
    };
    let video: HTMLVideoElement | undefined;
    const frame = new Promise<number>((resolve) => {
      pc.ontrack = (ev) => {
        if (ev.track.kind !== 'video' || video !== undefined) return;
        video = document.createElement('video');
        video.muted = true;
        video.autoplay = true;
        video.playsInline = true;
        video.srcObject = ev.streams[0] ?? new MediaStream([ev.track]);
        el.append(video);
        at('video');
        void video.play().catch(() => undefined);
        void firstFrame(video).then(resolve);
      };
    });
    pc.oniceconnectionstatechange = () => {
      if (pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed') at('iceConnected');
    };
    const joined = await send({
      janus: 'message',
      session_id: session,
      handle_id: handle,
      body: { request: 'join', ptype: 'subscriber', room: a.room, streams: [{ feed: a.feed }] },
    });
    if (joined.jsep === undefined) throw new Error(`join: no offer (${JSON.stringify(joined.plugindata?.data)})`);
    at('offer');
    await pc.setRemoteDescription(joined.jsep);
    remoteSet = true;
    for (const c of remoteCandidates.splice(0)) void pc.addIceCandidate(c).catch(() => undefined);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    void send({ janus: 'message', session_id: session, handle_id: handle, body: { request: 'start' }, jsep: { type: 'answer', sdp: answer.sdp } }).then(
      () => at('started'),
      (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))),
    );
    at('answerSent');
    return frame;
  };

  try {
    const frameAt = await Promise.race([run(), failed, timeout<number>(a.timeoutMs, 'janus')]);
    return { ok: true, ttffMs: frameAt - t0, marks, node: a.node, startedAt, ...opt('sdpSession', remoteSessionNames[names]) };
  } catch (err) {
    return { ok: false, marks, node: a.node, startedAt, error: message(err) };
  } finally {
    // Leave cleanly so the edge's subscriber goes at once (closing the socket would do it too).
    if (session !== 0) {
      closers.delete(close);
      closers.add(() => {
        try {
          ws.send(JSON.stringify({ janus: 'destroy', session_id: session, transaction: 'bye', apisecret: a.apiSecret }));
        } catch {
          // the socket is gone
        }
        close();
      });
    }
  }
}

/** Ends every player and publisher this page started. */
function closeAll(): number {
  const n = closers.size;
  for (const c of [...closers]) {
    try {
      c();
    } catch {
      // best effort
    }
  }
  closers.clear();
  return n;
}

const api = { fanoutPlay, fanoutPublish, janusPlay, closeAll };
window.fanoutBench = api;
