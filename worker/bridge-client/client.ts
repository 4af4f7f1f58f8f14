/**
 * The worker's side of the bridge API: request ids, a timeout per request, results validated with
 * `Results[method]`, events validated with `BridgeEvent`, errors as CdnError. Runtime-free: it
 * talks to the socket through a two-method transport, so it runs under workerd and in plain tests.
 * Closing (either side) rejects everything pending with UNAVAILABLE.
 *
 * Links that move (protocol/api.ts): only `close()` closes with BRIDGE_RELEASE_CLOSE_CODE, which
 * tells the bridge to release what the link owned at once. A link lost any other way (the peer
 * went, the keep-alive found it dead) leaves that in place for a new link to `bind`.
 */
import * as v from 'valibot';
import {
  BRIDGE_KEEPALIVE_MS,
  BRIDGE_RELEASE_CLOSE_CODE,
  BRIDGE_REQUEST_TIMEOUT_MS,
  BridgeMessage,
  CdnError,
  errorText,
  issueText,
  RequestParams,
  Results,
  type BridgeEvent,
  type Logger,
  type Method,
  type Params,
  type Result,
} from '../../protocol/index.ts';
import { silentLogger } from '../../protocol/index.ts';

/**
 * The close code of a link the worker gives up as lost (the keep-alive found it dead, or a request
 * with its own timeout got no answer): not BRIDGE_RELEASE_CLOSE_CODE, because the worker did not
 * mean to give anything up (a new link re-binds it). 4000-4999 are the application's; 408 as in
 * HTTP's timeout.
 */
export const LINK_LOST_CLOSE_CODE = 4408;

/** What the client needs from a WebSocket. */
export interface BridgeTransport {
  send(text: string): void;
  close(code: number, reason: string): void;
}

export interface BridgeClientOptions {
  /** How long a request may wait for its reply (default BRIDGE_REQUEST_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Called for every valid event the bridge pushes. A throwing listener is logged, not fatal. */
  onEvent?: (event: BridgeEvent) => void;
  /** Called once when the link is gone (closed by either side), with the reason. */
  onClose?: (reason: CdnError) => void;
  /** Names the bridge in error messages (its API URL). */
  label?: string;
  /**
   * Keep-alive period (default BRIDGE_KEEPALIVE_MS; 0 turns it off): a `ping` is sent each period,
   * and a ping still unanswered at the next one closes the link as lost.
   */
  keepAliveMs?: number;
  log?: Logger;
}

interface Pending {
  method: Method;
  settle(raw: unknown): void;
  fail(err: CdnError): void;
  timer: ReturnType<typeof setTimeout>;
}

/** One bridge API connection. */
export class BridgeClient {
  readonly #transport: BridgeTransport;
  readonly #opts: BridgeClientOptions;
  readonly #pending = new Map<number, Pending>();
  readonly #log: Logger;
  #nextId = 1;
  #closed: CdnError | undefined;
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  #pingOutstanding = false;

  constructor(transport: BridgeTransport, opts: BridgeClientOptions = {}) {
    this.#transport = transport;
    this.#opts = opts;
    this.#log = opts.log ?? silentLogger;
    const period = opts.keepAliveMs ?? BRIDGE_KEEPALIVE_MS;
    if (period > 0) this.#keepAlive = setInterval(() => this.#tick(period), period);
  }

  /** One keep-alive period: a link that left the last ping unanswered is lost. */
  #tick(period: number): void {
    if (this.#closed !== undefined) return;
    if (this.#pingOutstanding) {
      this.#log.warn('bridge link lost: no answer to keep-alive', { periodMs: period });
      this.abandon(`no answer to keep-alive within ${period} ms`);
      return;
    }
    this.#pingOutstanding = true;
    this.request('ping', {}).then(
      () => (this.#pingOutstanding = false),
      // A failed ping means the link is closing anyway; the next tick or the close handler acts.
      () => undefined,
    );
  }

  /** True once the link is gone; every request then fails with UNAVAILABLE. */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** How many requests are waiting for a reply. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Sends `method` with `params` and resolves with the validated result. */
  request<M extends Method>(method: M, params: Params<M>, timeoutMs?: number): Promise<Result<M>> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    const checked = v.safeParse(RequestParams[method], params);
    if (!checked.success) {
      return Promise.reject(new CdnError('INVALID_ARGUMENT', `${method}: ${issueText(checked.issues[0])}`));
    }
    const id = this.#nextId++;
    const waitMs = timeoutMs ?? this.#opts.timeoutMs ?? BRIDGE_REQUEST_TIMEOUT_MS;
    return new Promise<Result<M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new CdnError('TIMEOUT', `the bridge did not answer "${method}" within ${waitMs} ms`));
      }, waitMs);
      this.#pending.set(id, {
        method,
        timer,
        settle: (raw) => {
          const result = v.safeParse(Results[method], raw);
          if (result.success) resolve(result.output);
          else reject(new CdnError('INTERNAL', `the bridge sent an invalid "${method}" result: ${issueText(result.issues[0])}`));
        },
        fail: reject,
      });
      try {
        this.#transport.send(JSON.stringify({ id, method, params: checked.output }));
      } catch (err) {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new CdnError('UNAVAILABLE', `cannot send to the bridge: ${errorText(err)}`, { cause: err }));
      }
    });
  }

  /** Feeds one frame received from the bridge. */
  receive(data: unknown): void {
    if (typeof data !== 'string') {
      this.#log.warn('bridge sent a binary frame; ignored');
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      this.#log.warn('bridge sent a frame that is not JSON; ignored', { length: data.length });
      return;
    }
    const parsed = v.safeParse(BridgeMessage, json);
    if (!parsed.success) {
      this.#log.warn('bridge sent an invalid message; ignored', { issue: issueText(parsed.issues[0]) });
      return;
    }
    const msg = parsed.output;
    if ('event' in msg) {
      try {
        this.#opts.onEvent?.(msg);
      } catch (err) {
        this.#log.error('bridge event listener threw', { event: msg.event, err });
      }
      return;
    }
    const pending = this.#pending.get(msg.id);
    // A reply that crossed our own close (the session's last counters report) is expected.
    if (pending === undefined && this.#closed !== undefined) return;
    if (pending === undefined) {
      // A reply after its timeout, or the bridge refusing a frame it could not parse (id -1).
      this.#log.warn('bridge reply for no pending request', { id: msg.id, ...('error' in msg ? { err: msg.error.message } : {}) });
      return;
    }
    this.#pending.delete(msg.id);
    clearTimeout(pending.timer);
    if ('error' in msg) {
      const { code, message, janusCode } = msg.error;
      pending.fail(new CdnError(code, message, janusCode === undefined ? undefined : { janusCode }));
    } else {
      pending.settle(msg.result);
    }
  }

  /** The socket closed or failed: everything pending fails with UNAVAILABLE. Safe to call twice. */
  handleClose(code: number, reason: string): void {
    if (this.#closed !== undefined) return;
    const where = this.#opts.label === undefined ? 'the bridge' : `the bridge at ${this.#opts.label}`;
    this.#shutdown(
      new CdnError('UNAVAILABLE', `the connection to ${where} closed (code ${code}${reason === '' ? '' : `: ${reason}`})`),
    );
  }

  /**
   * Gives the link up as lost (LINK_LOST_CLOSE_CODE, not a release): what it owned stays on the
   * bridge for a new link to `bind`. For a link that stopped answering. Safe to call twice.
   */
  abandon(reason: string): void {
    this.#closeWith(LINK_LOST_CLOSE_CODE, reason, new CdnError('UNAVAILABLE', `the bridge link was lost: ${reason}`));
  }

  /**
   * Closes the link on purpose, with BRIDGE_RELEASE_CLOSE_CODE: the bridge releases everything it
   * owned at once. Safe to call twice.
   */
  close(reason = 'worker closed the link'): void {
    this.#closeWith(BRIDGE_RELEASE_CLOSE_CODE, reason, new CdnError('UNAVAILABLE', `the bridge link was closed: ${reason}`));
  }

  #closeWith(code: number, reason: string, error: CdnError): void {
    if (this.#closed !== undefined) return;
    this.#shutdown(error);
    try {
      this.#transport.close(code, reason.slice(0, 120));
    } catch (err) {
      // Already closed by the peer: the expected race at teardown, nothing to report.
      this.#log.debug('bridge socket close after it was gone', { err });
    }
  }

  #shutdown(reason: CdnError): void {
    this.#closed = reason;
    if (this.#keepAlive !== undefined) clearInterval(this.#keepAlive);
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.fail(reason);
    }
    try {
      this.#opts.onClose?.(reason);
    } catch (err) {
      this.#log.error('bridge close listener threw', { err });
    }
  }
}
