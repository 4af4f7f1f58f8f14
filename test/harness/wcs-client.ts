/**
 * The one Node WCS client, for the integration suites and the benchmarks: the public WebSocket API
 * exactly as a client sees it through the worker (`ws://127.0.0.1:8787/node/<id>/ws`), without a
 * browser. It sends the WebSDK's frames (connection, publishStream with an offer, playStream
 * without one and the answer as `setRemoteSDP`, stopStream, unPublishStream), built as the shared
 * `ClientFrame` type; it answers pings, checks every frame it receives against the shared
 * `ServerFrame` schemas (protocol/wcs.ts) and keeps them all, so a test can check each status it
 * was told and when. Every wait has a timeout; a close rejects what is still waiting.
 *
 * `publishWerift` / `playWerift` put werift peers behind it for real media.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { readServerFrame, type ClientFrame, type ErrorCode, type RedirectInfo, type ServerFrame, type WcsStreamStatus } from '../../protocol/index.ts';
import { until, WeriftPublisher, WeriftSubscriber, type PublisherOptions } from './werift-peer.ts';

export const WORKER_URL = 'ws://127.0.0.1:8787';

const WAIT_MS = 10_000;
const REQUEST_MS = 15_000;

/** A status the session was told: a `notifyStreamStatusEvent`, or FAILED from a `fail` frame naming the stream. */
export interface StatusEvent {
  mediaSessionId: string;
  status: WcsStreamStatus;
  info?: string | undefined;
  code?: ErrorCode | undefined;
  /** Only from a status frame (a `fail` frame does not carry them all). */
  name?: string | undefined;
  published?: boolean | undefined;
  reason?: string | undefined;
}
export type Redirect = RedirectInfo;
export type { ServerFrame };

/** A received frame and when it arrived (Date.now()). */
export interface Received {
  at: number;
  frame: ServerFrame;
}

export interface ConnectOptions {
  /** Default WORKER_URL; ignored when `connect` is given a ws:// URL. */
  base?: string;
  /** For opening the socket and for getUserData (ms). Default 10 s. */
  timeoutMs?: number;
}

export interface WaitOptions {
  /** Only frames at this index of `received` or later (from `mark()`). */
  from?: number;
  timeoutMs?: number;
}

export class WcsError extends Error {
  override readonly name = 'WcsError';
}

interface Waiter {
  /** Resolves when a frame matches; false when nothing has yet. */
  check(): boolean;
  fail(err: Error): void;
}

export class WcsClient {
  /** The node this session is on (from getUserData when connected by URL). */
  node: string;
  readonly url: string;
  readonly #ws: WebSocket;
  readonly received: Received[] = [];
  /** Frames that did not validate, or whose message the contract does not know (should stay empty). */
  readonly invalid: string[] = [];
  /** Set when the socket closed: the close code and reason, and when. */
  closedWith: { code: number; reason: string; at: number } | undefined;
  readonly #waiters = new Set<Waiter>();
  sessionId = '';

  private constructor(node: string, url: string, ws: WebSocket) {
    this.node = node;
    this.url = url;
    this.#ws = ws;
    ws.on('message', (data) => {
      const text = String(data);
      const read = readServerFrame(text);
      if (read.kind !== 'frame') {
        // Kept for the test to assert on: a frame the WebSDK could not read is a defect too.
        this.invalid.push(`${read.kind === 'invalid' ? read.problem : `unknown message "${read.message}"`}: ${text.slice(0, 500)}`);
        return;
      }
      const frame = read.frame;
      if (frame.message === 'ping') this.#send({ message: 'pong', data: [] });
      this.received.push({ at: Date.now(), frame });
      this.#wake();
    });
    ws.on('close', (code, reason) => {
      this.closedWith = { code, reason: reason.toString(), at: Date.now() };
      this.#wake();
      this.#rejectWaiters(`the socket closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`);
    });
    ws.on('error', () => undefined);
  }

  /**
   * Opens a session and waits for getUserData: on `target` a node id (origin, edge-1, ...) behind
   * the worker at `opts.base`, or a ws:// URL (a redirect's `url`).
   */
  static async connect(target: string, opts: ConnectOptions = {}): Promise<WcsClient> {
    const byUrl = /^wss?:\/\//.test(target);
    const url = byUrl ? target : `${opts.base ?? WORKER_URL}/node/${target}/ws`;
    const ws = new WebSocket(url);
    const timeoutMs = opts.timeoutMs ?? WAIT_MS;
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
    const client = new WcsClient(byUrl ? url : target, url, ws);
    try {
      client.#send({
        message: 'connection',
        data: [{ appKey: 'defaultApp', mediaProviders: ['WebRTC'], keepAlive: false, clientVersion: '2.0', clientOSVersion: 'node', clientBrowserVersion: 'node' }],
      });
      const user = await client.waitFor('getUserData', (f) => (f.message === 'getUserData' ? f.data[0] : undefined), { timeoutMs });
      client.sessionId = user.sessionId;
      if (byUrl && user.node !== undefined) client.node = user.node;
    } catch (err) {
      client.terminate();
      throw err;
    }
    return client;
  }

  get open(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /** Index of the next frame to arrive: pass it as `from` to wait only for later ones. */
  mark(): number {
    return this.received.length;
  }

  /**
   * Waits for the first frame at `from` or later for which `pick` returns a value. Rejects after
   * `timeoutMs`, or when the socket closes first.
   */
  waitFor<T>(what: string, pick: (f: ServerFrame) => T | undefined, opts: WaitOptions = {}): Promise<T> {
    const from = opts.from ?? 0;
    const timeoutMs = opts.timeoutMs ?? WAIT_MS;
    const find = (): T | undefined => {
      for (let i = from; i < this.received.length; i++) {
        const hit = pick(this.received[i]!.frame);
        if (hit !== undefined) return hit;
      }
      return undefined;
    };
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    if (this.closedWith !== undefined) return Promise.reject(this.#error(what, from, `the socket closed (${this.closedWith.code})`));
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      const waiter: Waiter = {
        check: () => {
          const hit = find();
          if (hit === undefined) return false;
          done();
          resolve(hit);
          return true;
        },
        fail: (err) => {
          done();
          reject(err);
        },
      };
      const timer = setTimeout(() => waiter.fail(this.#error(what, from, `not within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** Every status this session was told for `id`, in order. */
  statuses(id: string): StatusEvent[] {
    const out: StatusEvent[] = [];
    for (const { frame } of this.received) {
      const s = statusOf(frame, id);
      if (s !== undefined) out.push(s);
    }
    return out;
  }

  /** Every status frame of this session, with its arrival time. */
  allStatuses(): Array<StatusEvent & { at: number }> {
    return this.received.flatMap(({ at, frame }) => (frame.message === 'notifyStreamStatusEvent' ? [{ ...frame.data[0], at }] : []));
  }

  /** Waits for a status of stream `id` (one of `statuses`), also from a `fail` frame for that id. */
  async waitForStatus(id: string, statuses: WcsStreamStatus | readonly WcsStreamStatus[], opts: WaitOptions = {}): Promise<StatusEvent & { at: number }> {
    const wanted: readonly WcsStreamStatus[] = typeof statuses === 'string' ? [statuses] : statuses;
    const hit = await this.waitFor(
      `status ${wanted.join('/')} of ${id}`,
      (frame) => {
        const s = statusOf(frame, id);
        return s !== undefined && wanted.includes(s.status) ? { s, frame } : undefined;
      },
      opts,
    );
    const at = this.received.find((r) => r.frame === hit.frame)?.at ?? Date.now();
    return { ...hit.s, at };
  }

  /** Sends publishStream with `sdp`; resolves with Janus's answer, rejects with the FAILED info. */
  async publish(name: string, sdp: string, opts: { id?: string; timeoutMs?: number } = {}): Promise<{ id: string; answer: string }> {
    const id = opts.id ?? randomUUID();
    const from = this.mark();
    this.#send({
      message: 'publishStream',
      data: [{ mediaSessionId: id, name, published: true, hasVideo: true, hasAudio: true, status: 'PENDING', record: false, mediaProvider: 'WebRTC', sdp }],
    });
    const r = await this.#reply(id, `setRemoteSDP or FAILED for ${id}`, from, opts.timeoutMs ?? REQUEST_MS);
    if ('redirect' in r) throw new WcsError(`publish ${id} was answered with a redirect`);
    return { id, answer: r.sdp };
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
    const r = await this.#reply(id, `setRemoteSDP, redirect or FAILED for ${id}`, from, opts.timeoutMs ?? REQUEST_MS);
    return 'sdp' in r ? { id, offer: r.sdp } : { id, redirect: r.redirect };
  }

  /** `play` on an origin with load balancing: resolves with the redirect; an offer instead rejects. */
  async playRedirect(name: string, opts: { id?: string; timeoutMs?: number } = {}): Promise<Redirect> {
    const r = await this.play(name, opts);
    if (!('redirect' in r)) throw new WcsError(`${this.node} answered the player of ${name} with an offer, not a redirect`);
    return r.redirect;
  }

  /** `play` on an edge: resolves with Janus's offer; a redirect instead rejects. */
  async playOffer(name: string, opts: { id?: string; timeoutMs?: number } = {}): Promise<{ id: string; offer: string }> {
    const r = await this.play(name, opts);
    if ('redirect' in r) throw new WcsError(`${this.node} redirected the player of ${name} to ${r.redirect.node}; play on an edge session`);
    return r;
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

  /** stopStream / unPublishStream, and waits for STOPPED / UNPUBLISHED; FAILED rejects. */
  async end(id: string, kind: 'play' | 'publish', opts: { name?: string; timeoutMs?: number } = {}): Promise<void> {
    const want = kind === 'play' ? 'STOPPED' : 'UNPUBLISHED';
    const from = this.mark();
    if (kind === 'play') this.stop(id, opts.name);
    else this.unpublish(id, opts.name);
    const s = await this.waitForStatus(id, [want, 'FAILED'], { from, ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) });
    if (s.status !== want) throw new WcsError(`${kind} ${id}: ${s.status}${s.info === undefined ? '' : ` (${s.info})`}`);
  }

  /** The answer to a publish or play: an SDP, a redirect; FAILED (a status or a `fail` naming the stream) rejects. */
  async #reply(id: string, what: string, from: number, timeoutMs: number): Promise<{ sdp: string } | { redirect: Redirect }> {
    const r = await this.waitFor(
      what,
      (f): { sdp: string } | { redirect: Redirect } | { failed: string } | undefined => {
        if (f.message === 'setRemoteSDP' && f.data[0] === id) return { sdp: f.data[1] };
        if (f.message === 'redirect' && f.data[0].mediaSessionId === id) return { redirect: f.data[0] };
        const s = statusOf(f, id);
        if (s?.status === 'FAILED') return { failed: s.info ?? 'FAILED' };
        return undefined;
      },
      { from, timeoutMs },
    );
    if ('failed' in r) throw new WcsError(r.failed);
    return r;
  }

  #send(frame: ClientFrame): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(frame));
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w.check();
  }

  #rejectWaiters(why: string): void {
    for (const w of [...this.#waiters]) if (!w.check()) w.fail(new WcsError(`${this.node}: ${why}`));
  }

  #error(what: string, from: number, why: string): WcsError {
    const tail = this.received.slice(from).map((r) => JSON.stringify(r.frame).slice(0, 200));
    return new WcsError(`${this.node}: no ${what}: ${why}${this.closedWith ? ` (closed ${this.closedWith.code})` : ''}; got ${tail.join(' | ') || 'nothing'}`);
  }

  /** Closes the session cleanly (code 1000) and waits for the close; what is still waiting rejects at once. */
  async close(): Promise<void> {
    this.#rejectWaiters('closed by the client');
    if (this.#ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((r) => this.#ws.once('close', () => r()));
    this.#ws.close(1000, 'test done');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, 3000)))]);
    clearTimeout(timer);
    this.#ws.terminate(); // nothing when already closed; ends a close handshake that hangs
  }

  /** Drops the TCP connection without a close handshake (an abrupt disconnect); what is waiting rejects. */
  terminate(): void {
    this.#rejectWaiters('terminated by the client');
    this.#ws.terminate();
  }

  /** Resolves when the socket is closed (by either side). */
  async closed(timeoutMs = WAIT_MS): Promise<{ code: number; reason: string; at: number }> {
    await until(`${this.node} session closed`, () => this.closedWith !== undefined, timeoutMs);
    return this.closedWith!;
  }
}

/** The status `frame` tells about stream `id`, if any. */
function statusOf(frame: ServerFrame, id: string): StatusEvent | undefined {
  if (frame.message === 'notifyStreamStatusEvent' && frame.data[0].mediaSessionId === id) return frame.data[0];
  if (frame.message === 'fail' && frame.data[0].id === id) return { mediaSessionId: id, status: 'FAILED', info: frame.data[0].info, code: frame.data[0].code };
  return undefined;
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
    await client.waitForStatus(id, 'PUBLISHING', { timeoutMs: opts.timeoutMs ?? REQUEST_MS });
    return { pub, id };
  } catch (err) {
    await pub.close();
    throw err;
  }
}

/** Plays `name` through `client` (an edge session, or the origin without load balancing) with a werift subscriber; waits for PLAYING. */
export async function playWerift(client: WcsClient, name: string, opts: { timeoutMs?: number } = {}): Promise<{ sub: WeriftSubscriber; id: string }> {
  const r = await client.playOffer(name);
  const sub = new WeriftSubscriber();
  try {
    client.answer(r.id, await sub.answer(r.offer));
    await client.waitForStatus(r.id, 'PLAYING', { timeoutMs: opts.timeoutMs ?? REQUEST_MS });
    return { sub, id: r.id };
  } catch (err) {
    await sub.close();
    throw err;
  }
}
