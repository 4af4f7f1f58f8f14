/**
 * A minimal Node client of Fanout's WCS WebSocket API (worker/README.md), for the signalling and
 * memory benchmarks: the frames the SDK sends, without a browser and without media. Every wait has
 * a timeout; closing rejects what is waiting.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

export interface WcsFrame {
  message: string;
  data: unknown[];
}

function asFrame(text: string): WcsFrame | undefined {
  try {
    const x: unknown = JSON.parse(text);
    if (typeof x !== 'object' || x === null || !('message' in x) || typeof x.message !== 'string') return undefined;
    const data = 'data' in x && Array.isArray(x.data) ? (x.data as unknown[]) : [];
    return { message: x.message, data };
  } catch {
    return undefined;
  }
}

function field(x: unknown, key: string): unknown {
  return typeof x === 'object' && x !== null && key in x ? (x as Record<string, unknown>)[key] : undefined;
}

export class WcsClient {
  readonly #ws: WebSocket;
  readonly #frames: WcsFrame[] = [];
  readonly #waiters = new Set<() => void>();
  #closed = false;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data) => {
      const f = asFrame(String(data));
      if (f === undefined) return;
      if (f.message === 'ping') {
        this.send('pong', []);
        return;
      }
      this.#frames.push(f);
      for (const w of [...this.#waiters]) w();
    });
    ws.on('close', () => {
      this.#closed = true;
      for (const w of [...this.#waiters]) w();
    });
    ws.on('error', () => undefined);
  }

  /** Opens the socket and completes the `connection` handshake (until getUserData). */
  static async connect(url: string, timeoutMs = 10_000): Promise<WcsClient> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`${url}: not open within ${timeoutMs} ms`));
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
    const c = new WcsClient(ws);
    try {
      c.send('connection', [{ appKey: 'defaultApp', mediaProviders: ['WebRTC'], clientVersion: '2.0', keepAlive: false }]);
      await c.waitFor('getUserData', () => true, timeoutMs);
    } catch (err) {
      c.close();
      throw err;
    }
    return c;
  }

  send(message: string, data: unknown[]): void {
    this.#ws.send(JSON.stringify({ message, data }));
  }

  /** The first frame named `message` that matches, received before or after this call. */
  waitFor(message: string, match: (f: WcsFrame) => boolean, timeoutMs: number): Promise<WcsFrame> {
    return this.waitForAny(message, (f) => f.message === message && match(f), timeoutMs);
  }

  /** The first frame that matches, received before or after this call; a `fail` frame rejects. */
  waitForAny(what: string, match: (f: WcsFrame) => boolean, timeoutMs: number): Promise<WcsFrame> {
    const message = what;
    const find = (): WcsFrame | undefined => {
      const i = this.#frames.findIndex((f) => match(f));
      return i < 0 ? undefined : this.#frames.splice(i, 1)[0];
    };
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        const fail = this.#frames.find((f) => f.message === 'fail');
        if (fail !== undefined) {
          done();
          reject(new Error(`fail: ${JSON.stringify(fail.data[0])}`));
          return;
        }
        const f = find();
        if (f !== undefined) {
          done();
          resolve(f);
        } else if (this.#closed) {
          done();
          reject(new Error(`socket closed while waiting for ${message}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${message} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
      };
      this.#waiters.add(wake);
    });
  }

  /** publishStream; resolves with the server's answer. */
  async publish(name: string, sdp: string, timeoutMs: number): Promise<{ mediaSessionId: string; answer: string }> {
    const mediaSessionId = randomUUID();
    this.send('publishStream', [{ mediaSessionId, name, sdp, mediaProvider: 'WebRTC', published: true }]);
    const f = await this.#sdpOrFailure(mediaSessionId, timeoutMs);
    return { mediaSessionId, answer: f };
  }

  /** playStream on the origin: resolves with the redirect's URL. */
  async playRedirect(name: string, timeoutMs: number): Promise<{ url: string; node: string }> {
    const mediaSessionId = randomUUID();
    this.send('playStream', [{ mediaSessionId, name, mediaProvider: 'WebRTC', published: false }]);
    const f = await this.waitFor('redirect', (x) => field(x.data[0], 'mediaSessionId') === mediaSessionId, timeoutMs);
    const url = field(f.data[0], 'url');
    const node = field(f.data[0], 'node');
    if (typeof url !== 'string' || typeof node !== 'string') throw new Error(`redirect without url/node: ${JSON.stringify(f.data[0])}`);
    return { url, node };
  }

  /** playStream on an edge (server-offer flow): resolves with the server's offer. */
  async play(name: string, timeoutMs: number): Promise<{ mediaSessionId: string; offer: string }> {
    const mediaSessionId = randomUUID();
    this.send('playStream', [{ mediaSessionId, name, mediaProvider: 'WebRTC', published: false }]);
    return { mediaSessionId, offer: await this.#sdpOrFailure(mediaSessionId, timeoutMs) };
  }

  answer(mediaSessionId: string, sdp: string): void {
    this.send('setRemoteSDP', [mediaSessionId, sdp]);
  }

  /** stopStream / unPublishStream, until the STOPPED / UNPUBLISHED status. */
  async stop(mediaSessionId: string, kind: 'play' | 'publish', timeoutMs: number): Promise<void> {
    const status = kind === 'play' ? 'STOPPED' : 'UNPUBLISHED';
    this.send(kind === 'play' ? 'stopStream' : 'unPublishStream', [{ mediaSessionId }]);
    const f = await this.#statusOf(mediaSessionId, (s) => s === status || s === 'FAILED', timeoutMs);
    if (field(f.data[0], 'status') !== status) throw new Error(`${kind} ${mediaSessionId}: ${JSON.stringify(f.data[0])}`);
  }

  #statusOf(id: string, ok: (status: unknown) => boolean, timeoutMs: number): Promise<WcsFrame> {
    return this.waitFor('notifyStreamStatusEvent', (f) => field(f.data[0], 'mediaSessionId') === id && ok(field(f.data[0], 'status')), timeoutMs);
  }

  async #sdpOrFailure(id: string, timeoutMs: number): Promise<string> {
    const f = await this.waitForAny(
      `setRemoteSDP for ${id}`,
      (x) =>
        (x.message === 'setRemoteSDP' && x.data[0] === id) ||
        (x.message === 'notifyStreamStatusEvent' && field(x.data[0], 'mediaSessionId') === id && field(x.data[0], 'status') === 'FAILED'),
      timeoutMs,
    );
    if (f.message !== 'setRemoteSDP') throw new Error(`FAILED: ${String(field(f.data[0], 'info'))}`);
    const sdp = f.data[1];
    if (typeof sdp !== 'string') throw new Error('setRemoteSDP without an SDP');
    return sdp;
  }

  close(): void {
    this.#closed = true;
    this.#ws.close();
  }
}
