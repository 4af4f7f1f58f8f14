/**
 * A Node client for the bridge's internal WebSocket API, as the worker speaks it: bearer secret,
 * numbered requests with timeouts, replies and pushed events validated against the protocol
 * schemas. Closing the client rejects whatever is still pending.
 */
import * as v from 'valibot';
import WebSocket from 'ws';
import {
  BRIDGE_API_PATH,
  BRIDGE_RELEASE_CLOSE_CODE,
  BridgeMessage,
  Results,
  type BridgeEvent,
  type ErrorCode,
  type Method,
  type Params,
  type Result,
} from '../../protocol/index.ts';

export class BridgeRequestError extends Error {
  override readonly name = 'BridgeRequestError';
  constructor(
    readonly method: string,
    readonly code: ErrorCode,
    /** The bridge's message, as sent. */
    readonly reason: string,
    readonly janusCode: number | undefined,
  ) {
    super(`${method}: ${code}: ${reason}`);
  }
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Only events at this index or later (see `mark()`). */
  from?: number;
}

interface Pending {
  method: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** The refusal of a request that must fail (its error, to check code and wording); a success throws. */
export async function refusal(p: Promise<unknown>): Promise<BridgeRequestError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BridgeRequestError) return err;
    throw err;
  }
  throw new Error('the request succeeded but was expected to fail');
}

/** Tries to open the API with the given Authorization header; resolves with the HTTP status of a refusal, or 101. */
export function upgradeStatus(bridgeUrl: string, authorization: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${bridgeUrl.replace(/^http/, 'ws')}${BRIDGE_API_PATH}`, {
      headers: authorization === undefined ? {} : { authorization },
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => {
      resolve(101);
      ws.close();
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

export class BridgeClient {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, Pending>();
  readonly events: BridgeEvent[] = [];
  readonly #waiters = new Set<() => void>();
  #nextId = 1;
  #closed = false;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data) => this.#onMessage(String(data)));
    ws.on('close', () => this.#failAll(new Error('bridge connection closed')));
  }

  static connect(bridgeUrl: string, secret: string, timeoutMs = 5000): Promise<BridgeClient> {
    const ws = new WebSocket(`${bridgeUrl.replace(/^http/, 'ws')}${BRIDGE_API_PATH}`, { headers: { authorization: `Bearer ${secret}` } });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`bridge API not open after ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve(new BridgeClient(ws));
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Sends a request; resolves with its validated result, rejects with a BridgeRequestError. */
  request<M extends Method>(method: M, params: Params<M>, timeoutMs = 15_000): Promise<Result<M>> {
    return this.#send(method, { method, params }, timeoutMs).then((result) => {
      const schema: v.GenericSchema<unknown, Result<M>> = Results[method];
      return v.parse(schema, result);
    });
  }

  /** Sends any JSON as a request with the next id (for malformed requests); resolves with the raw result. */
  raw(frame: Record<string, unknown>, timeoutMs = 15_000): Promise<unknown> {
    return this.#send(String(frame['method'] ?? 'raw'), frame, timeoutMs);
  }

  /** Sends text as is; resolves with the next reply whose id is -1 (an unparseable frame). */
  rawText(text: string, timeoutMs = 5000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(-1);
        reject(new Error('no reply to a raw frame'));
      }, timeoutMs);
      this.#pending.set(-1, { method: 'raw', resolve, reject, timer });
      this.#ws.send(text);
    });
  }

  #send(method: string, frame: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error('bridge client closed'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { method, resolve, reject, timer });
      this.#ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  #onMessage(text: string): void {
    const msg = v.parse(BridgeMessage, JSON.parse(text));
    if ('event' in msg) {
      this.events.push(msg);
      for (const wake of [...this.#waiters]) wake();
      return;
    }
    const pending = this.#pending.get(msg.id);
    if (pending === undefined) return;
    this.#pending.delete(msg.id);
    clearTimeout(pending.timer);
    if ('error' in msg) pending.reject(new BridgeRequestError(pending.method, msg.error.code, msg.error.message, msg.error.janusCode));
    else pending.resolve(msg.result);
  }

  /** The number of events received so far: pass it as `from` to wait only for later ones. */
  mark(): number {
    return this.events.length;
  }

  /** Resolves with the first matching event received at index `from` or later (already or to come). */
  waitForEvent<E extends BridgeEvent>(what: string, match: (e: BridgeEvent) => e is E, opts?: WaitOptions): Promise<E>;
  waitForEvent(what: string, match: (e: BridgeEvent) => boolean, opts?: WaitOptions): Promise<BridgeEvent>;
  waitForEvent(what: string, match: (e: BridgeEvent) => boolean, opts: WaitOptions = {}): Promise<BridgeEvent> {
    const from = opts.from ?? 0;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const find = (): BridgeEvent | undefined => this.events.slice(from).find(match);
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        const e = find();
        if (e === undefined) return;
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(e);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(new Error(`no ${what} event within ${timeoutMs} ms; events: ${JSON.stringify(this.events.slice(from))}`));
      }, timeoutMs);
      this.#waiters.add(wake);
    });
  }

  #failAll(err: Error): void {
    this.#closed = true;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
  }

  /**
   * Closes the connection with BRIDGE_RELEASE_CLOSE_CODE, as the worker does when a session is
   * over: the bridge then releases everything this client owned at once.
   */
  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => this.#ws.once('close', () => resolve()));
    this.#ws.close(BRIDGE_RELEASE_CLOSE_CODE);
    await closed;
  }

  /** Drops the connection without a close handshake (a lost link): what it owned waits for a `bind`. */
  async drop(): Promise<void> {
    if (this.#ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => this.#ws.once('close', () => resolve()));
    this.#ws.terminate();
    await closed;
  }
}

/** Type guards for events, for `waitForEvent`. */
export const isPublisherEvent =
  (publishId: string, status?: string) =>
  (e: BridgeEvent): e is Extract<BridgeEvent, { event: 'publisher' }> =>
    e.event === 'publisher' && e.publishId === publishId && (status === undefined || e.status === status);

export const isPlayerEvent =
  (playId: string, status?: string) =>
  (e: BridgeEvent): e is Extract<BridgeEvent, { event: 'player' }> =>
    e.event === 'player' && e.playId === playId && (status === undefined || e.status === status);

export const isNodeEvent =
  (node: string, up: boolean) =>
  (e: BridgeEvent): e is Extract<BridgeEvent, { event: 'node' }> =>
    e.event === 'node' && e.node.id === node && e.node.up === up;
