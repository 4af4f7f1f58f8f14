/**
 * A Node WCS client for the fault and soak suites: the public WebSocket API exactly as a client
 * sees it through the worker (`ws://127.0.0.1:8787/node/<id>/ws`), without a browser. It sends the
 * WebSDK's frames (connection, publishStream with an offer, playStream without one and the answer
 * as `setRemoteSDP`, stopStream, unPublishStream), answers pings, validates every frame it receives
 * and keeps them all, so a test can check each status it was told and when.
 *
 * `publishWerift` / `playWerift` put werift peers behind it for real media.
 */
import { randomUUID } from 'node:crypto';
import * as v from 'valibot';
import WebSocket from 'ws';
import { until, WeriftPublisher, WeriftSubscriber, type PublisherOptions } from './werift-peer.ts';

export const WORKER_URL = 'ws://127.0.0.1:8787';

const StatusEvent = v.object({
  mediaSessionId: v.string(),
  name: v.optional(v.string()),
  published: v.optional(v.boolean()),
  status: v.string(),
  info: v.optional(v.string()),
  code: v.optional(v.string()),
});
export type StatusEvent = v.InferOutput<typeof StatusEvent>;

const Redirect = v.object({
  mediaSessionId: v.string(),
  name: v.string(),
  node: v.string(),
  url: v.string(),
  server: v.string(),
  ws: v.number(),
  wss: v.number(),
});
export type Redirect = v.InferOutput<typeof Redirect>;

const Fail = v.object({
  apiMethod: v.string(),
  info: v.string(),
  code: v.optional(v.string()),
  id: v.optional(v.string()),
  mediaSessionId: v.optional(v.string()),
  status: v.optional(v.string()),
});
export type Fail = v.InferOutput<typeof Fail>;

const ServerFrame = v.variant('message', [
  v.object({ message: v.literal('getUserData'), data: v.tuple([v.object({ sessionId: v.string(), node: v.optional(v.string()), role: v.optional(v.string()) })]) }),
  v.object({ message: v.literal('setRemoteSDP'), data: v.tuple([v.string(), v.string()]) }),
  v.object({ message: v.literal('notifyStreamStatusEvent'), data: v.tuple([StatusEvent]) }),
  v.object({ message: v.literal('fail'), data: v.tuple([Fail]) }),
  v.object({ message: v.literal('redirect'), data: v.tuple([Redirect]) }),
  v.object({ message: v.literal('ping'), data: v.optional(v.array(v.unknown())) }),
  v.object({ message: v.literal('pong'), data: v.optional(v.array(v.unknown())) }),
]);
export type ServerFrame = v.InferOutput<typeof ServerFrame>;

/** A received frame and when it arrived (Date.now()). */
export interface Received {
  at: number;
  frame: ServerFrame;
}

export interface ConnectOptions {
  /** Default WORKER_URL. */
  base?: string;
  timeoutMs?: number;
}

export class WcsError extends Error {
  override readonly name = 'WcsError';
}

export class WcsClient {
  readonly node: string;
  readonly url: string;
  readonly #ws: WebSocket;
  readonly received: Received[] = [];
  /** Frames that did not validate (should stay empty). */
  readonly invalid: string[] = [];
  /** Set when the socket closed: the close code and reason, and when. */
  closedWith: { code: number; reason: string; at: number } | undefined;
  readonly #waiters = new Set<() => void>();
  sessionId = '';

  private constructor(node: string, url: string, ws: WebSocket) {
    this.node = node;
    this.url = url;
    this.#ws = ws;
    ws.on('message', (data) => {
      let json: unknown;
      try {
        json = JSON.parse(String(data));
      } catch {
        json = undefined;
      }
      const parsed = v.safeParse(ServerFrame, json);
      if (!parsed.success) {
        // Kept for the test to assert on: a frame the WebSDK could not read is a defect too.
        this.invalid.push(String(data).slice(0, 500));
        return;
      }
      const frame = parsed.output;
      if (frame.message === 'ping') this.#send({ message: 'pong', data: [] });
      this.received.push({ at: Date.now(), frame });
      this.#wake();
    });
    ws.on('close', (code, reason) => {
      this.closedWith = { code, reason: reason.toString(), at: Date.now() };
      this.#wake();
    });
    ws.on('error', () => undefined);
  }

  /** Opens a session on `node` (origin, edge-1, ...) and waits for getUserData. */
  static async connect(node: string, opts: ConnectOptions = {}): Promise<WcsClient> {
    const url = `${opts.base ?? WORKER_URL}/node/${node}/ws`;
    const ws = new WebSocket(url);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new WcsError(`${url}: not open after ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const client = new WcsClient(node, url, ws);
    client.#send({
      message: 'connection',
      data: [{ appKey: 'defaultApp', mediaProviders: ['WebRTC'], keepAlive: false, clientVersion: '2.0', clientOSVersion: 'node', clientBrowserVersion: 'node' }],
    });
    const user = await client.waitFor('getUserData', (f) => (f.message === 'getUserData' ? f.data[0] : undefined), { timeoutMs });
    client.sessionId = user.sessionId;
    return client;
  }

  get open(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /** Index of the next frame to arrive: pass it as `from` to wait only for later ones. */
  mark(): number {
    return this.received.length;
  }

  /** Waits for the first frame at `from` or later for which `pick` returns a value. */
  waitFor<T>(what: string, pick: (f: ServerFrame) => T | undefined, opts: { from?: number; timeoutMs?: number } = {}): Promise<T> {
    const from = opts.from ?? 0;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const find = (): T | undefined => {
      for (let i = from; i < this.received.length; i++) {
        const hit = pick(this.received[i]!.frame);
        if (hit !== undefined) return hit;
      }
      return undefined;
    };
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        const hit = find();
        if (hit !== undefined) {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        const tail = this.received.slice(from).map((r) => JSON.stringify(r.frame).slice(0, 200));
        reject(new WcsError(`${this.node}: no ${what} within ${timeoutMs} ms${this.closedWith ? ` (closed ${this.closedWith.code})` : ''}; got ${tail.join(' | ') || 'nothing'}`));
      }, timeoutMs);
      this.#waiters.add(wake);
    });
  }

  /** Every status this session was told for `id`, in order. */
  statuses(id: string): StatusEvent[] {
    const out: StatusEvent[] = [];
    for (const { frame } of this.received) {
      if (frame.message === 'notifyStreamStatusEvent' && frame.data[0].mediaSessionId === id) out.push(frame.data[0]);
      if (frame.message === 'fail' && frame.data[0].id === id) out.push({ mediaSessionId: id, status: 'FAILED', info: frame.data[0].info });
    }
    return out;
  }

  /** Every status frame of this session, with its arrival time. */
  allStatuses(): Array<StatusEvent & { at: number }> {
    return this.received.flatMap(({ at, frame }) => (frame.message === 'notifyStreamStatusEvent' ? [{ ...frame.data[0], at }] : []));
  }

  /** Waits for a status of stream `id` (one of `statuses`), also from a `fail` frame for that id. */
  waitForStatus(id: string, statuses: string | readonly string[], opts: { from?: number; timeoutMs?: number } = {}): Promise<StatusEvent & { at: number }> {
    const wanted = typeof statuses === 'string' ? [statuses] : statuses;
    const from = opts.from ?? 0;
    return this.waitFor(
      `status ${wanted.join('/')} of ${id}`,
      (f) => {
        if (f.message === 'notifyStreamStatusEvent' && f.data[0].mediaSessionId === id && wanted.includes(f.data[0].status)) return f.data[0];
        if (f.message === 'fail' && f.data[0].id === id && wanted.includes('FAILED')) return { mediaSessionId: id, status: 'FAILED', info: f.data[0].info };
        return undefined;
      },
      opts,
    ).then((s) => ({ ...s, at: this.#arrival(s, from) }));
  }

  #arrival(s: StatusEvent, from: number): number {
    for (let i = from; i < this.received.length; i++) {
      const r = this.received[i]!;
      if (r.frame.message === 'notifyStreamStatusEvent' && r.frame.data[0] === s) return r.at;
      if (r.frame.message === 'fail' && r.frame.data[0].id === s.mediaSessionId) return r.at;
    }
    return Date.now();
  }

  /** Sends publishStream with `sdp`; resolves with Janus's answer, rejects with the FAILED info. */
  async publish(name: string, sdp: string, opts: { id?: string; timeoutMs?: number } = {}): Promise<{ id: string; answer: string }> {
    const id = opts.id ?? randomUUID();
    const from = this.mark();
    this.#send({
      message: 'publishStream',
      data: [{ mediaSessionId: id, name, published: true, hasVideo: true, hasAudio: true, status: 'PENDING', record: false, mediaProvider: 'WebRTC', sdp }],
    });
    const answer = await this.#sdpOrFailure(id, from, opts.timeoutMs);
    return { id, answer };
  }

  /**
   * Sends playStream without an SDP (Fanout's server-offer flow). Resolves with Janus's offer, or
   * with the redirect when asked of an origin with load balancing; rejects with the FAILED info.
   */
  async play(name: string, opts: { id?: string; timeoutMs?: number } = {}): Promise<{ id: string; offer: string } | { id: string; redirect: Redirect }> {
    const id = opts.id ?? randomUUID();
    const from = this.mark();
    this.#send({
      message: 'playStream',
      data: [{ mediaSessionId: id, name, published: false, hasVideo: true, hasAudio: true, status: 'PENDING', record: false, mediaProvider: 'WebRTC' }],
    });
    const r = await this.waitFor(
      `setRemoteSDP, redirect or FAILED for ${id}`,
      (f): { sdp: string } | { redirect: Redirect } | { failed: string } | undefined => {
        if (f.message === 'setRemoteSDP' && f.data[0] === id) return { sdp: f.data[1] };
        if (f.message === 'redirect' && f.data[0].mediaSessionId === id) return { redirect: f.data[0] };
        if (f.message === 'notifyStreamStatusEvent' && f.data[0].mediaSessionId === id && f.data[0].status === 'FAILED') return { failed: f.data[0].info ?? 'FAILED' };
        if (f.message === 'fail' && f.data[0].id === id) return { failed: f.data[0].info };
        return undefined;
      },
      { from, timeoutMs: opts.timeoutMs ?? 15_000 },
    );
    if ('failed' in r) throw new WcsError(r.failed);
    return 'sdp' in r ? { id, offer: r.sdp } : { id, redirect: r.redirect };
  }

  /** The player's answer to Janus's offer. */
  answer(id: string, sdp: string): void {
    this.#send({ message: 'setRemoteSDP', data: [id, sdp] });
  }

  stop(id: string, name = ''): void {
    this.#send({ message: 'stopStream', data: [{ mediaSessionId: id, name, published: false }] });
  }

  unpublish(id: string, name = ''): void {
    this.#send({ message: 'unPublishStream', data: [{ mediaSessionId: id, name, published: true }] });
  }

  async #sdpOrFailure(id: string, from: number, timeoutMs = 15_000): Promise<string> {
    const r = await this.waitFor(
      `setRemoteSDP or FAILED for ${id}`,
      (f): { sdp: string } | { failed: string } | undefined => {
        if (f.message === 'setRemoteSDP' && f.data[0] === id) return { sdp: f.data[1] };
        if (f.message === 'notifyStreamStatusEvent' && f.data[0].mediaSessionId === id && f.data[0].status === 'FAILED') return { failed: f.data[0].info ?? 'FAILED' };
        if (f.message === 'fail' && f.data[0].id === id) return { failed: f.data[0].info };
        return undefined;
      },
      { from, timeoutMs },
    );
    if ('failed' in r) throw new WcsError(r.failed);
    return r.sdp;
  }

  #send(frame: { message: string; data: unknown[] }): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(frame));
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Closes the session cleanly (code 1000) and waits for the close. */
  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((r) => this.#ws.once('close', () => r()));
    this.#ws.close(1000, 'test done');
    await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))]);
    this.#ws.terminate(); // nothing when already closed; ends a close handshake that hangs
  }

  /** Drops the TCP connection without a close handshake (an abrupt disconnect). */
  terminate(): void {
    this.#ws.terminate();
  }

  /** Resolves when the socket is closed (by either side). */
  async closed(timeoutMs = 10_000): Promise<{ code: number; reason: string; at: number }> {
    await until(`${this.node} session closed`, () => this.closedWith !== undefined, timeoutMs);
    return this.closedWith!;
  }
}

// ---------------------------------------------------------------- with werift media

/** Publishes a werift source through `client` (an origin session) and waits for PUBLISHING. */
export async function publishWerift(
  client: WcsClient,
  name: string,
  opts: PublisherOptions & { timeoutMs?: number } = {},
): Promise<{ pub: WeriftPublisher; id: string }> {
  const pub = new WeriftPublisher(opts);
  try {
    const { id, answer } = await client.publish(name, await pub.offer());
    await pub.accept(answer);
    await client.waitForStatus(id, 'PUBLISHING', { timeoutMs: opts.timeoutMs ?? 15_000 });
    return { pub, id };
  } catch (err) {
    await pub.close();
    throw err;
  }
}

/** Plays `name` through `client` (an edge session, or the origin without load balancing) with a werift subscriber; waits for PLAYING. */
export async function playWerift(client: WcsClient, name: string, opts: { timeoutMs?: number } = {}): Promise<{ sub: WeriftSubscriber; id: string }> {
  const r = await client.play(name);
  if ('redirect' in r) throw new WcsError(`${client.node} redirected the player to ${r.redirect.node}; play on an edge session`);
  const sub = new WeriftSubscriber();
  try {
    client.answer(r.id, await sub.answer(r.offer));
    await client.waitForStatus(r.id, 'PLAYING', { timeoutMs: opts.timeoutMs ?? 15_000 });
    return { sub, id: r.id };
  } catch (err) {
    await sub.close();
    throw err;
  }
}
