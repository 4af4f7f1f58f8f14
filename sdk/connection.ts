/**
 * One WCS WebSocket: opens it, sends `connection`, waits for `getUserData`, answers `ping` with
 * `pong`, validates every frame and hands the checked frames to its owner. A session owns one to
 * the server it was created for, plus one per edge its players were redirected to.
 */
import { Emitter } from './emitter.ts';
import { encodeClientFrame, parseServerFrame, type ClientFrame, type ConnectionParams, type StreamFrame } from './protocol.ts';
import { errorText } from '../protocol/errors.ts';

/**
 * An event handler property. Declared as a method so that the browser's WebSocket, whose handlers
 * take its own event types, fits (method parameters are compared bivariantly).
 */
type Handler<E> = { bivarianceHack(ev: E): void }['bivarianceHack'];

/** The part of the browser's WebSocket the SDK uses (the `ws` package has the same shape). */
export interface SocketLike {
  readonly readyState: number;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onerror: Handler<unknown> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type SocketFactory = (url: string) => SocketLike;

const OPEN = 1;

/** How the connection ended. `error` is set when the socket failed rather than closed cleanly. */
export interface CloseInfo {
  code: number;
  reason: string;
  established: boolean;
  error: string | undefined;
  /** Closed by our own `close()`. */
  byClient: boolean;
}

export type ConnectionEvents = {
  connected: [];
  established: [];
  frame: [frame: StreamFrame];
  invalid: [problem: string];
  closed: [info: CloseInfo];
};

export interface ConnectionOptions {
  url: string;
  params: ConnectionParams;
  socketFactory: SocketFactory;
  /** How long opening + `getUserData` may take (ms). */
  timeoutMs: number;
}

export class WcsConnection {
  readonly url: string;
  readonly events = new Emitter<ConnectionEvents>();
  #socket: SocketLike | undefined;
  #established = false;
  #closed = false;
  #error: string | undefined;
  #byClient = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #opts: ConnectionOptions;

  constructor(opts: ConnectionOptions) {
    this.url = opts.url;
    this.#opts = opts;
  }

  get established(): boolean {
    return this.#established && !this.#closed;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Opens the socket; the outcome arrives as `established` or `closed`. */
  open(): void {
    if (this.#socket !== undefined || this.#closed) return;
    let socket: SocketLike;
    try {
      socket = this.#opts.socketFactory(this.url);
    } catch (err) {
      // A malformed URL throws synchronously (SyntaxError); report it like any failed connection.
      this.#error = `cannot open ${this.url}: ${errorText(err)}`;
      queueMicrotask(() => this.#finish(1006, ''));
      return;
    }
    this.#socket = socket;
    this.#timer = setTimeout(() => {
      this.#error = `no session from ${this.url} within ${this.#opts.timeoutMs} ms`;
      this.close();
    }, this.#opts.timeoutMs);
    socket.onopen = () => {
      this.events.emit('connected');
      this.send({ message: 'connection', data: [this.#opts.params] });
    };
    socket.onmessage = (ev) => this.#onMessage(ev.data);
    socket.onerror = () => {
      this.#error ??= this.#established ? `the connection to ${this.url} broke` : `cannot connect to ${this.url}`;
    };
    socket.onclose = (ev) => this.#finish(ev.code, ev.reason);
  }

  /** Waits for `established`; rejects with the close reason. */
  whenEstablished(): Promise<void> {
    if (this.established) return Promise.resolve();
    if (this.#closed) return Promise.reject(new Error(this.#error ?? `the connection to ${this.url} is closed`));
    return new Promise((resolve, reject) => {
      const onUp = (): void => {
        this.events.off('closed', onDown);
        resolve();
      };
      const onDown = (info: CloseInfo): void => {
        this.events.off('established', onUp);
        reject(new Error(info.error ?? `the connection to ${this.url} closed (${info.code}${info.reason === '' ? '' : ` ${info.reason}`})`));
      };
      this.events.on('established', onUp);
      this.events.on('closed', onDown);
    });
  }

  /** Sends a frame; false when the socket is not open. */
  send(frame: ClientFrame): boolean {
    const s = this.#socket;
    if (s === undefined || s.readyState !== OPEN || this.#closed) return false;
    try {
      s.send(encodeClientFrame(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Closes the socket; safe to call twice. `closed` follows once. */
  close(code = 1000, reason = 'client disconnect'): void {
    if (this.#closed) return;
    this.#byClient = this.#error === undefined;
    const s = this.#socket;
    if (s === undefined) {
      this.#finish(code, reason);
      return;
    }
    try {
      s.close(code, reason);
    } catch {
      // already closing
    }
    // Do not wait for the server's close frame: report now, ignore the socket from here on (an
    // error handler stays: Node's `ws` throws an error event nobody listens to).
    s.onopen = s.onmessage = s.onclose = null;
    s.onerror = () => undefined;
    this.#finish(code, reason);
  }

  #onMessage(data: unknown): void {
    if (this.#closed) return;
    if (typeof data !== 'string') {
      this.events.emit('invalid', 'the server sent a binary frame');
      return;
    }
    const read = parseServerFrame(data);
    if (read.kind === 'invalid') {
      this.events.emit('invalid', read.problem);
      return;
    }
    if (read.kind === 'unknown') return; // a frame this SDK does not use
    const frame = read.frame;
    switch (frame.message) {
      case 'ping':
        this.send({ message: 'pong', data: [] });
        return;
      case 'pong':
        return;
      case 'getUserData':
        if (this.#established) return;
        this.#established = true;
        clearTimeout(this.#timer);
        this.events.emit('established');
        return;
      default:
        this.events.emit('frame', frame);
    }
  }

  #finish(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.events.emit('closed', { code, reason, established: this.#established, error: this.#error, byClient: this.#byClient });
    this.events.clear();
  }
}
