/**
 * Scripted WCS servers for the SDK's unit tests: real WebSocket servers on 127.0.0.1 (the `ws`
 * package) that establish every session, record what they receive and answer what the test tells
 * them to, plus the helpers the replay and republish tests share. Node only: excluded from the
 * browser build's tsconfig, checked by sdk/tsconfig.test.json.
 */
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { SESSION_STATUS } from '../constants.ts';
import { Session } from '../session.ts';
import type { MediaEnvironment } from '../media.ts';
import type { RedirectInfo } from '../../protocol/wcs.ts';

export interface Frame {
  message: string;
  data: unknown[];
}

export function isFrame(x: unknown): x is Frame {
  return typeof x === 'object' && x !== null && 'message' in x && typeof x.message === 'string' && 'data' in x && Array.isArray(x.data);
}

/** A WCS server that establishes every session and records what it receives. */
export class Server {
  readonly wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  readonly received: Array<{ ws: WebSocket; frame: Frame }> = [];
  readonly listening = new Promise<void>((r) => this.wss.once('listening', () => r()));
  closedSockets = 0;

  constructor() {
    this.wss.on('connection', (ws) => {
      ws.on('close', () => this.closedSockets++);
      ws.on('message', (raw) => {
        const frame: unknown = JSON.parse(raw.toString());
        if (!isFrame(frame)) return;
        this.received.push({ ws, frame });
        if (frame.message === 'connection') ws.send(JSON.stringify({ message: 'getUserData', data: [{ sessionId: 'x', mediaProviders: ['WebRTC'] }] }));
      });
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/`;
  }

  /** The `n`-th (1-based) frame named `message`, and the socket it came on. */
  async nth(message: string, n = 1): Promise<{ ws: WebSocket; frame: Frame }> {
    const deadline = Date.now() + 3000;
    for (;;) {
      const hits = this.received.filter((r) => r.frame.message === message);
      if (hits.length >= n) return hits[n - 1]!;
      if (Date.now() > deadline) throw new Error(`no ${message} #${n}; got ${this.received.map((r) => r.frame.message).join(', ')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  count(message: string): number {
    return this.received.filter((r) => r.frame.message === message).length;
  }

  close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    return new Promise((r) => this.wss.close(() => r()));
  }
}

export function send(ws: WebSocket, message: string, data: unknown[]): void {
  ws.send(JSON.stringify({ message, data }));
}

/** A redirect's data as the worker sends it: every field the contract (protocol/wcs.ts) requires. */
export function redirectTo(mediaSessionId: string, url: string, name = 'x'): RedirectInfo {
  const u = new URL(url);
  return { mediaSessionId, name, node: 'edge-1', url, server: u.hostname, ws: Number(u.port), wss: 443 };
}

/** What a test opened, closed after it by `cleanUp` (register it with `afterEach`). */
const opened: Array<() => Promise<void> | void> = [];

export async function cleanUp(): Promise<void> {
  for (const c of opened.splice(0).reverse()) await c();
}

/** Three listening servers: the session's own (`origin`) and two more. */
export async function servers(): Promise<{ origin: Server; a: Server; b: Server }> {
  const [origin, a, b] = [new Server(), new Server(), new Server()];
  for (const s of [origin, a, b]) {
    opened.push(() => s.close());
    await s.listening;
  }
  return { origin, a, b };
}

/** A session on `origin`, once ESTABLISHED; `media` replaces the browser's (publishing in Node). */
export async function established(origin: Server, media?: MediaEnvironment): Promise<Session> {
  const s = new Session({ urlServer: origin.url }, { socketFactory: (url) => new WebSocket(url), ...(media === undefined ? {} : { media }) });
  opened.push(() => s.disconnect());
  await new Promise<void>((resolve, reject) => {
    s.on(SESSION_STATUS.ESTABLISHED, () => resolve());
    s.on(SESSION_STATUS.FAILED, (_, info) => reject(new Error(info)));
  });
  return s;
}

export async function until(what: string, check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
