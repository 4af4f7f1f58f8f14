/**
 * A minimal client of Janus's WebSocket API for the benchmark's "plain Janus" baselines: sessions,
 * handles, plugin messages (synchronous ones answered with `success`, asynchronous ones with an
 * `event` after the `ack`), with a timeout on every request. Closing the connection rejects what is
 * pending. Replies are checked for the fields used, not trusted.
 */
import WebSocket from 'ws';

export interface JanusReply {
  janus: string;
  transaction?: string;
  sender?: number;
  session_id?: number;
  data?: { id?: number };
  error?: { code?: number; reason?: string };
  plugindata?: { plugin?: string; data?: Record<string, unknown> };
  jsep?: { type: string; sdp: string };
}

function asReply(text: string): JanusReply {
  const x: unknown = JSON.parse(text);
  if (typeof x !== 'object' || x === null || !('janus' in x) || typeof x.janus !== 'string') throw new Error(`not a Janus message: ${text.slice(0, 200)}`);
  return x as JanusReply;
}

export class JanusError extends Error {
  override readonly name = 'JanusError';
  constructor(
    readonly code: number,
    reason: string,
  ) {
    super(`${code} ${reason}`);
  }
}

interface Pending {
  resolve(r: JanusReply): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
  /** Asynchronous plugin requests: wait past the ack for the event. */
  async: boolean;
}

export class JanusConnection {
  readonly #ws: WebSocket;
  readonly #secret: string;
  readonly #pending = new Map<string, Pending>();
  #tx = 0;
  #closed = false;

  private constructor(ws: WebSocket, secret: string) {
    this.#ws = ws;
    this.#secret = secret;
    ws.on('message', (data) => this.#onMessage(String(data)));
    ws.on('close', () => this.#failAll(new Error('Janus connection closed')));
    ws.on('error', () => undefined);
  }

  static connect(url: string, apiSecret: string, timeoutMs = 5000): Promise<JanusConnection> {
    const ws = new WebSocket(url, 'janus-protocol');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`${url}: not open within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve(new JanusConnection(ws, apiSecret));
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  #onMessage(text: string): void {
    let r: JanusReply;
    try {
      r = asReply(text);
    } catch {
      return;
    }
    if (r.transaction === undefined) return;
    const p = this.#pending.get(r.transaction);
    if (p === undefined) return;
    if (r.janus === 'ack' && p.async) return;
    this.#pending.delete(r.transaction);
    clearTimeout(p.timer);
    const pluginError = r.plugindata?.data?.['error_code'];
    if (r.janus === 'error' || r.error !== undefined) p.reject(new JanusError(r.error?.code ?? 0, r.error?.reason ?? 'error'));
    else if (typeof pluginError === 'number') p.reject(new JanusError(pluginError, String(r.plugindata?.data?.['error'] ?? '')));
    else p.resolve(r);
  }

  #failAll(err: Error): void {
    this.#closed = true;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
  }

  request(body: Record<string, unknown>, opts: { async?: boolean; timeoutMs?: number } = {}): Promise<JanusReply> {
    if (this.#closed) return Promise.reject(new Error('Janus connection closed'));
    const transaction = `b${this.#tx++}`;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(transaction);
        reject(new Error(`janus ${String(body['janus'])}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(transaction, { resolve, reject, timer, async: opts.async ?? false });
      this.#ws.send(JSON.stringify({ ...body, transaction, apisecret: this.#secret }));
    });
  }

  async session(): Promise<JanusSession> {
    const r = await this.request({ janus: 'create' });
    if (r.data?.id === undefined) throw new Error('create: no session id');
    return new JanusSession(this, r.data.id);
  }

  close(): void {
    this.#closed = true;
    this.#ws.close();
  }
}

export class JanusSession {
  constructor(
    readonly conn: JanusConnection,
    readonly id: number,
  ) {}

  async attach(plugin = 'janus.plugin.videoroom'): Promise<JanusHandle> {
    const r = await this.conn.request({ janus: 'attach', session_id: this.id, plugin });
    if (r.data?.id === undefined) throw new Error('attach: no handle id');
    return new JanusHandle(this, r.data.id);
  }

  async destroy(): Promise<void> {
    await this.conn.request({ janus: 'destroy', session_id: this.id });
  }
}

export class JanusHandle {
  constructor(
    readonly session: JanusSession,
    readonly id: number,
  ) {}

  /** A synchronous plugin request (create, list, add_remote_publisher, ...): its plugin data. */
  async sync(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const r = await this.session.conn.request({ janus: 'message', session_id: this.session.id, handle_id: this.id, body });
    return r.plugindata?.data ?? {};
  }

  /** An asynchronous plugin request (join, start, ...): the event that answers it, with its jsep. */
  async async(
    body: Record<string, unknown>,
    jsep?: { type: string; sdp: string },
    timeoutMs = 10_000,
  ): Promise<{ data: Record<string, unknown>; jsep?: { type: string; sdp: string } }> {
    const r = await this.session.conn.request(
      { janus: 'message', session_id: this.session.id, handle_id: this.id, body, ...(jsep === undefined ? {} : { jsep }) },
      { async: true, timeoutMs },
    );
    return { data: r.plugindata?.data ?? {}, ...(r.jsep === undefined ? {} : { jsep: r.jsep }) };
  }

  async detach(): Promise<void> {
    await this.session.conn.request({ janus: 'detach', session_id: this.session.id, handle_id: this.id });
  }
}
