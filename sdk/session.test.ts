/**
 * The session's protocol side against real WebSocket servers in Node (the `ws` package), scripted
 * per test: handshake, ping/pong, failures, frame validation, the origin redirect and stop. Media
 * (getUserMedia, RTCPeerConnection) is covered in Chromium by test/integration/e2e.test.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { SESSION_STATUS, STREAM_STATUS } from './constants.ts';
import { Session, type SessionOptions } from './session.ts';
import type { BandwidthReport } from './bandwidth.ts';
import { isFrame, redirectTo, type Frame } from './test-support/wcs-servers.ts';

/** A scripted WCS server: records what it receives; the test decides what to answer. */
class ScriptedServer {
  readonly wss: WebSocketServer;
  readonly listening: Promise<void>;
  readonly received: Frame[] = [];
  readonly sockets: WebSocket[] = [];
  #waiters: (() => void)[] = [];

  constructor(readonly autoEstablish = true) {
    this.wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    this.listening = new Promise((r) => this.wss.once('listening', () => r()));
    this.wss.on('connection', (ws) => {
      this.sockets.push(ws);
      ws.on('message', (raw) => {
        const parsed: unknown = JSON.parse(raw.toString());
        if (!isFrame(parsed)) throw new Error(`not a frame: ${raw.toString()}`);
        this.received.push(parsed);
        if (parsed.message === 'connection' && this.autoEstablish) this.send(ws, 'getUserData', [{ sessionId: 'x', mediaProviders: ['WebRTC'] }]);
        this.#waiters.splice(0).forEach((w) => w());
      });
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/`;
  }

  send(ws: WebSocket | undefined, message: string, data: unknown[]): void {
    if (ws === undefined) throw new Error('no client socket');
    ws.send(JSON.stringify({ message, data }));
  }

  sendRaw(ws: WebSocket | undefined, text: string): void {
    ws?.send(text);
  }

  async waitFor(message: string, count = 1): Promise<Frame> {
    const deadline = Date.now() + 3000;
    for (;;) {
      const hits = this.received.filter((f) => f.message === message);
      if (hits.length >= count) return hits[count - 1] as Frame;
      if (Date.now() > deadline) throw new Error(`no ${message} frame; got ${this.received.map((f) => f.message).join(', ')}`);
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.terminate();
    return new Promise((r) => this.wss.close(() => r()));
  }
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function server(autoEstablish = true): Promise<ScriptedServer> {
  const s = new ScriptedServer(autoEstablish);
  cleanup.push(() => s.close());
  await s.listening;
  return s;
}

function session(opts: SessionOptions): Session {
  const s = new Session(opts, { socketFactory: (url) => new WebSocket(url) });
  cleanup.push(() => s.disconnect());
  return s;
}

function next<T>(register: (resolve: (v: T) => void) => void, ms = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    register((v) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

async function established(s: Session): Promise<void> {
  if (s.status() === SESSION_STATUS.ESTABLISHED) return;
  await next<void>((r) => s.on(SESSION_STATUS.ESTABLISHED, () => r()));
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null;
}

function first(f: Frame): Record<string, unknown> {
  const d = f.data[0];
  if (!isRecord(d)) throw new Error(`${f.message}: data[0] is not an object`);
  return d;
}

describe('Session', () => {
  it('sends the connection frame and is ESTABLISHED on getUserData, after CONNECTED', async () => {
    const srv = await server();
    const seen: string[] = [];
    const s = session({ urlServer: srv.url, appKey: 'app', authToken: 'tok', custom: { k: 1 } });
    s.on(SESSION_STATUS.CONNECTED, () => seen.push('CONNECTED'));
    await established(s);
    seen.push('ESTABLISHED');
    expect(seen).toEqual(['CONNECTED', 'ESTABLISHED']);
    expect(s.status()).toBe(SESSION_STATUS.ESTABLISHED);
    const c = first(await srv.waitFor('connection'));
    expect(c).toMatchObject({ appKey: 'app', mediaProviders: ['WebRTC'], clientVersion: '2.0', authToken: 'tok', custom: { k: 1 }, keepAlive: false });
  });

  it('answers the server ping with pong', async () => {
    const srv = await server();
    const s = session({ urlServer: srv.url });
    await established(s);
    srv.send(srv.sockets[0], 'ping', []);
    expect((await srv.waitFor('pong')).data).toEqual([]);
  });

  it('a server that closes the connection after getUserData makes the session DISCONNECTED with its code', async () => {
    const srv = await server();
    const s = session({ urlServer: srv.url });
    await established(s);
    const info = next<{ code: number; reason: string }>((r) => s.on(SESSION_STATUS.DISCONNECTED, (_, i) => r(i)));
    srv.sockets[0]?.close(4001, 'bye');
    expect(await info).toEqual({ code: 4001, reason: 'bye' });
    expect(s.status()).toBe(SESSION_STATUS.DISCONNECTED);
  });

  it('a server that cannot be reached makes the session FAILED, naming the URL', async () => {
    const srv = await server();
    const url = srv.url;
    await srv.close();
    const s = session({ urlServer: url });
    const info = await next<string>((r) => s.on(SESSION_STATUS.FAILED, (_, i) => r(i)));
    expect(info).toContain(url);
    expect(s.status()).toBe(SESSION_STATUS.FAILED);
  });

  it('a server that never sends getUserData makes the session FAILED after the timeout', async () => {
    const srv = await server(false);
    const s = session({ urlServer: srv.url, timeout: 300 });
    const info = await next<string>((r) => s.on(SESSION_STATUS.FAILED, (_, i) => r(i)));
    expect(info).toMatch(/no session from .* within 300 ms/);
  });

  it('rejects a urlServer that is not a ws:// URL, naming the field', () => {
    expect(() => new Session({ urlServer: 'http://x/' })).toThrow(/urlServer must be a ws:\/\/ or wss:\/\/ URL/);
  });

  it('an invalid frame gives WARN naming the problem, and the session stays usable', async () => {
    const srv = await server();
    const s = session({ urlServer: srv.url });
    await established(s);
    const warns: string[] = [];
    s.on(SESSION_STATUS.WARN, (_, i) => warns.push(i));
    srv.sendRaw(srv.sockets[0], 'not json');
    srv.send(srv.sockets[0], 'setRemoteSDP', [42]);
    srv.send(srv.sockets[0], 'somethingNew', [{}]); // unknown messages are ignored silently
    srv.send(srv.sockets[0], 'ping', []);
    await srv.waitFor('pong');
    expect(warns).toEqual([
      'the server sent a frame that is not JSON',
      'invalid "setRemoteSDP" frame from the server: data[0]: mediaSessionId must be a string',
    ]);
    expect(s.status()).toBe(SESSION_STATUS.ESTABLISHED);
  });

  it('disconnect() gives DISCONNECTED once and closes the socket; a second call does nothing', async () => {
    const srv = await server();
    const s = session({ urlServer: srv.url });
    await established(s);
    let n = 0;
    s.on(SESSION_STATUS.DISCONNECTED, () => n++);
    const closed = next<void>((r) => srv.sockets[0]?.on('close', () => r()));
    s.disconnect();
    s.disconnect();
    await closed;
    expect(n).toBe(1);
    expect(s.status()).toBe(SESSION_STATUS.DISCONNECTED);
  });

  it('a listener that throws does not stop the other listeners nor the session', async () => {
    const srv = await server();
    const s = session({ urlServer: srv.url });
    let second = false;
    const errors: unknown[] = [];
    const orig = console.error;
    console.error = (...a: unknown[]) => errors.push(a);
    cleanup.push(() => {
      console.error = orig;
    });
    s.on(SESSION_STATUS.ESTABLISHED, () => {
      throw new Error('page bug');
    });
    s.on(SESSION_STATUS.ESTABLISHED, () => (second = true));
    await established(s);
    expect(second).toBe(true);
    expect(errors).toHaveLength(1);
    srv.send(srv.sockets[0], 'ping', []);
    await srv.waitFor('pong');
  });

  describe('with lbUrl', () => {
    function lb(handler: (res: import('node:http').ServerResponse) => void): Promise<string> {
      const http: Server = createServer((_, res) => handler(res));
      cleanup.push(() => new Promise<void>((r) => http.close(() => r())));
      return new Promise((r) => http.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(http.address() as AddressInfo).port}/lb`)));
    }

    it('connects where the load balancer says', async () => {
      const edge = await server();
      const port = (edge.wss.address() as AddressInfo).port;
      const lbUrl = await lb((res) => res.end(JSON.stringify({ server: '127.0.0.1', ws: port, wss: 443 })));
      const s = session({ urlServer: 'ws://127.0.0.1:1/', lbUrl });
      await established(s);
      expect(s.getServerUrl()).toBe(`ws://127.0.0.1:${port}/`);
      await edge.waitFor('connection');
    });

    it('sends the authToken to the load balancer as ?token= and in the connection frame', async () => {
      const edge = await server();
      const port = (edge.wss.address() as AddressInfo).port;
      const urls: string[] = [];
      const http: Server = createServer((req, res) => {
        urls.push(req.url ?? '');
        res.end(JSON.stringify({ server: '127.0.0.1', ws: port, wss: 443 }));
      });
      cleanup.push(() => new Promise<void>((r) => http.close(() => r())));
      await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
      const lbUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/lb?stream=cam1`;
      const s = session({ urlServer: 'ws://127.0.0.1:1/', lbUrl, authToken: 'tok.en' });
      await established(s);
      expect(urls).toEqual(['/lb?stream=cam1&token=tok.en']);
      expect(first(await edge.waitFor('connection'))).toMatchObject({ authToken: 'tok.en' });
    });

    it('falls back to urlServer when the load balancer answers an error', async () => {
      const origin = await server();
      const lbUrl = await lb((res) => {
        res.statusCode = 503;
        res.end('{"error":"no edge"}');
      });
      const warn = console.warn;
      console.warn = () => undefined;
      cleanup.push(() => {
        console.warn = warn;
      });
      const s = session({ urlServer: origin.url, lbUrl });
      await established(s);
      expect(s.getServerUrl()).toBe(origin.url);
    });
  });

  describe('playing through an origin that redirects', () => {
    async function setup(): Promise<{ origin: ScriptedServer; edge: ScriptedServer; s: Session }> {
      const origin = await server();
      const edge = await server();
      const s = session({ urlServer: origin.url, appKey: 'k' });
      await established(s);
      return { origin, edge, s };
    }

    it('follows the redirect: PENDING then PLAYING, the origin FAILED is swallowed, stop gives STOPPED on the edge', async () => {
      const { origin, edge, s } = await setup();
      const statuses: string[] = [];
      const stream = s.createStream({ name: 'cam1' });
      for (const st of [STREAM_STATUS.PENDING, STREAM_STATUS.PLAYING, STREAM_STATUS.STOPPED] as const) stream.on(st, () => statuses.push(st));
      stream.on(STREAM_STATUS.FAILED, (_, info) => statuses.push(`FAILED ${info}`));
      stream.play();

      const play = first(await origin.waitFor('playStream'));
      expect(play).toMatchObject({ name: 'cam1', published: false, hasVideo: true, hasAudio: true, status: 'PENDING', mediaProvider: 'WebRTC' });
      expect(play['sdp']).toBeUndefined();
      const id = play['mediaSessionId'];
      expect(id).toBe(stream.id());

      origin.send(origin.sockets[0], 'redirect', [redirectTo(stream.id(), edge.url, 'cam1')]);
      origin.send(origin.sockets[0], 'notifyStreamStatusEvent', [{ mediaSessionId: id, name: 'cam1', published: false, status: 'FAILED', info: 'Redirected to edge-1' }]);

      // The edge gets the same connection parameters, then the same request.
      expect(first(await edge.waitFor('connection'))).toMatchObject({ appKey: 'k', clientVersion: '2.0' });
      const replay = first(await edge.waitFor('playStream'));
      expect(replay).toMatchObject({ mediaSessionId: id, name: 'cam1', published: false });
      edge.send(edge.sockets[0], 'notifyStreamStatusEvent', [{ mediaSessionId: id, name: 'cam1', published: false, status: 'PLAYING' }]);
      await next<void>((r) => stream.on(STREAM_STATUS.PLAYING, () => r()));
      expect(stream.getServerUrl()).toBe(edge.url);

      stream.stop();
      expect(first(await edge.waitFor('stopStream'))).toMatchObject({ mediaSessionId: id, name: 'cam1' });
      const edgeClosed = next<void>((r) => edge.sockets[0]?.on('close', () => r()));
      edge.send(edge.sockets[0], 'notifyStreamStatusEvent', [{ mediaSessionId: id, name: 'cam1', published: false, status: 'STOPPED' }]);
      await edgeClosed; // the last stream on the edge connection gone: it is closed
      expect(statuses).toEqual(['PENDING', 'PLAYING', 'STOPPED']);
      expect(stream.status()).toBe(STREAM_STATUS.STOPPED);
      expect(s.status()).toBe(SESSION_STATUS.ESTABLISHED);
      expect(origin.received.filter((f) => f.message === 'stopStream')).toEqual([]);
    });

    it('two players redirected to the same edge share one connection to it', async () => {
      const { origin, edge, s } = await setup();
      const a = s.createStream({ name: 'a' }).play();
      const b = s.createStream({ name: 'b' }).play();
      await origin.waitFor('playStream', 2);
      for (const st of [a, b]) origin.send(origin.sockets[0], 'redirect', [redirectTo(st.id(), edge.url)]);
      await edge.waitFor('playStream', 2);
      expect(edge.received.filter((f) => f.message === 'connection')).toHaveLength(1);
    });

    it('an edge that cannot be reached fails the stream, naming the edge', async () => {
      const { origin, s } = await setup();
      const dead = await server();
      const url = dead.url;
      await dead.close();
      const stream = s.createStream({ name: 'cam1' }).play();
      const failed = next<string>((r) => stream.on(STREAM_STATUS.FAILED, (_, i) => r(i)));
      await origin.waitFor('playStream');
      origin.send(origin.sockets[0], 'redirect', [redirectTo(stream.id(), url)]);
      expect(await failed).toContain(`Failed to connect to the edge ${url}`);
    });

    it('an unknown stream gives FAILED with the server info', async () => {
      const { origin, s } = await setup();
      const stream = s.createStream({ name: 'nope' }).play();
      const failed = next<string>((r) => stream.on(STREAM_STATUS.FAILED, (_, i) => r(i)));
      await origin.waitFor('playStream');
      origin.send(origin.sockets[0], 'notifyStreamStatusEvent', [{ mediaSessionId: stream.id(), name: 'nope', published: false, status: 'FAILED', info: 'stream not found' }]);
      expect(await failed).toBe('stream not found');
      expect(stream.getInfo()).toBe('stream not found');
    });

    it('a fail frame with the stream id fails that stream; without an id it is a session WARN', async () => {
      const { origin, s } = await setup();
      const stream = s.createStream({ name: 'x' }).play();
      const failed = next<string>((r) => stream.on(STREAM_STATUS.FAILED, (_, i) => r(i)));
      const warned = next<string>((r) => s.on(SESSION_STATUS.WARN, (_, i) => r(i)));
      await origin.waitFor('playStream');
      origin.send(origin.sockets[0], 'fail', [{ apiMethod: 'StreamStatusEvent', id: stream.id(), status: 'FAILED', info: 'Restricted access', code: 'PERMISSION_DENIED' }]);
      origin.send(origin.sockets[0], 'fail', [{ apiMethod: 'sendData', info: 'sendData is not supported', code: 'INVALID_ARGUMENT' }]);
      expect(await failed).toBe('Restricted access');
      expect(await warned).toBe('sendData is not supported');
    });

    it('a NOT_ENOUGH_BANDWIDTH status from the server is an event with its figures; the stream keeps PLAYING', async () => {
      const { origin, s } = await setup();
      const stream = s.createStream({ name: 'x' }).play();
      await origin.waitFor('playStream');
      origin.send(origin.sockets[0], 'notifyStreamStatusEvent', [{ mediaSessionId: stream.id(), name: 'x', published: false, status: 'PLAYING' }]);
      await next<void>((r) => stream.on(STREAM_STATUS.PLAYING, () => r()));
      const report = next<BandwidthReport>((r) => stream.on(STREAM_STATUS.NOT_ENOUGH_BANDWIDTH, (_, rep) => r(rep)));
      origin.send(origin.sockets[0], 'notifyStreamStatusEvent', [{ mediaSessionId: stream.id(), name: 'x', published: false, status: 'NOT_ENOUGH_BANDWIDTH', info: 'slow link', lost: 42 }]);
      expect(await report).toMatchObject({ source: 'server', direction: 'inbound', packetsLost: 42, info: 'slow link', figures: { lost: 42 } });
      expect(stream.status()).toBe(STREAM_STATUS.PLAYING);
    });

    it('disconnect() stops the playing streams (STOPPED) and closes the edge connections', async () => {
      const { origin, edge, s } = await setup();
      const stream = s.createStream({ name: 'x' }).play();
      await origin.waitFor('playStream');
      origin.send(origin.sockets[0], 'redirect', [redirectTo(stream.id(), edge.url)]);
      await edge.waitFor('playStream');
      const stopped = next<void>((r) => stream.on(STREAM_STATUS.STOPPED, () => r()));
      const edgeClosed = next<void>((r) => edge.sockets[0]?.on('close', () => r()));
      s.disconnect();
      await stopped;
      await edgeClosed;
    });

    it('an edge connection that drops fails its streams', async () => {
      const { origin, edge, s } = await setup();
      const stream = s.createStream({ name: 'x' }).play();
      await origin.waitFor('playStream');
      origin.send(origin.sockets[0], 'redirect', [redirectTo(stream.id(), edge.url)]);
      await edge.waitFor('playStream');
      const failed = next<string>((r) => stream.on(STREAM_STATUS.FAILED, (_, i) => r(i)));
      edge.sockets[0]?.terminate();
      expect(await failed).toContain(edge.url);
      expect(s.status()).toBe(SESSION_STATUS.ESTABLISHED);
    });

    it('play() before ESTABLISHED throws a clear error', () => {
      const s = new Session({ urlServer: 'ws://127.0.0.1:1/' }, { socketFactory: (url) => new WebSocket(url) });
      cleanup.push(() => s.disconnect());
      expect(() => s.createStream({ name: 'x' }).play()).toThrow(/session is not established/);
    });
  });
});
