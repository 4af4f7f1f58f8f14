/**
 * Test-only: WcsSession with a fake bridge link whose replies a test releases by hand (nothing in
 * the worker imports this). Used by ./session.test.ts and ./relink.test.ts.
 */
import * as v from 'valibot';
import { CdnError, type Method, type NodeInfo, type Params, type Result } from '../../protocol/index.ts';
import type { ServerFrame } from '../../protocol/wcs.ts';
import { WcsSession, type BridgeHandlers, type BridgeLink, type EdgeRedirect, type SessionOptions } from './session.ts';
import { nodeAddress } from '../nodes/index.ts';

export const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';

export interface Call {
  method: Method;
  params: unknown;
  resolve(result: unknown): void;
  reject(err: CdnError): void;
  /** The request's own timeout, when it set one (the real client rejects with TIMEOUT after it). */
  timeoutMs: number | undefined;
}

export class FakeLink implements BridgeLink {
  closed = false;
  readonly calls: Call[] = [];
  constructor(readonly handlers: BridgeHandlers) {}
  request<M extends Method>(method: M, params: Params<M>, timeoutMs?: number): Promise<Result<M>> {
    if (this.closed) return Promise.reject(new CdnError('UNAVAILABLE', 'closed'));
    return new Promise<Result<M>>((resolve, reject) => {
      this.calls.push({
        method,
        params,
        // The fake hands back whatever the test scripted; the real client validates with Results[method].
        resolve: (r) => resolve(v.parse(v.custom<Result<M>>(() => true), r)),
        reject,
        timeoutMs,
      });
    });
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.calls.splice(0)) c.reject(new CdnError('UNAVAILABLE', 'the bridge link was closed'));
  }
  /** The worker gives the link up (no release): like a loss, told to the session. */
  abandon(reason: string): void {
    if (this.closed) return;
    this.abandoned = reason;
    this.lose();
  }
  abandoned: string | undefined;
  /** The bridge drops the link. */
  lose(): void {
    this.closed = true;
    for (const c of this.calls.splice(0)) c.reject(new CdnError('UNAVAILABLE', 'the connection to the bridge closed (code 1006)'));
    this.handlers.onClose(new CdnError('UNAVAILABLE', 'lost'));
  }
  call(method: Method): Call {
    const c = this.calls.find((x) => x.method === method);
    if (c === undefined) throw new Error(`no pending ${method}; pending: ${this.calls.map((x) => x.method).join(', ')}`);
    this.calls.splice(this.calls.indexOf(c), 1);
    return c;
  }
}

export const origin: NodeInfo = { id: 'origin', role: 'origin', host: 'origin.localhost:8787', up: true, since: 0, load: { publishers: 0, subscribers: 0 } };
export const edge: NodeInfo = { ...origin, id: 'edge-1', role: 'edge', host: 'edge-1.localhost:8787' };

export function harness(opts: Partial<SessionOptions> = {}, chooseEdge?: (stream: string) => Promise<EdgeRedirect>) {
  const sent: ServerFrame[] = [];
  const closes: { code: number; reason: string }[] = [];
  const links: FakeLink[] = [];
  let pendingOpen: { resolve: (l: FakeLink) => void; reject: (e: CdnError) => void; link: FakeLink } | undefined;
  let holdOpen = false;
  let refuse: CdnError | undefined;
  let opens = 0;
  let now = 1_000;
  const session = new WcsSession(
    {
      send: (f) => sent.push(f),
      close: (code, reason) => closes.push({ code, reason }),
      openBridge: (handlers) => {
        opens++;
        if (refuse !== undefined) return Promise.reject(refuse);
        const link = new FakeLink(handlers);
        links.push(link);
        if (!holdOpen) return Promise.resolve(link);
        return new Promise((resolve, reject) => {
          pendingOpen = { resolve, reject, link };
        });
      },
      chooseEdge: chooseEdge ?? (() => Promise.resolve({ ok: false, code: 'UNAVAILABLE', reason: 'none' })),
      // An origin takes its own publishes; an edge sends them to the harness's origin.
      placePublish: (_stream, node) =>
        Promise.resolve(node.role === 'origin' ? { ok: true, here: true } : { here: false, ok: true, node: origin, url: 'ws://origin.localhost:8787/', ...nodeAddress(origin.host) }),
      now: () => now,
    },
    { sessionId: 's1', node: origin, loadBalancing: false, pingTimeoutMs: 30_000, ...opts },
  );
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  const send = (frame: unknown): void => session.handleText(JSON.stringify(frame));
  const statuses = (): unknown[] => sent.filter((f) => f.message === 'notifyStreamStatusEvent').map((f) => f.data[0]);
  return {
    session,
    sent,
    closes,
    links,
    send,
    flush,
    statuses,
    link: (): FakeLink => {
      const l = links.at(-1);
      if (l === undefined) throw new Error('no link opened');
      return l;
    },
    hold: () => {
      holdOpen = true;
    },
    release: () => pendingOpen?.resolve(pendingOpen.link),
    /** New links are refused (the bridge is away) until `refusing(undefined)`. */
    refusing: (err: CdnError | undefined) => {
      refuse = err;
    },
    opens: () => opens,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

export const connect = { message: 'connection', data: [{ appKey: 'defaultApp' }] };
export const publish = (id: string, name = 'cam1') => ({ message: 'publishStream', data: [{ mediaSessionId: id, name, sdp: SDP }] });
export const play = (id: string, name = 'cam1', sdp?: string) => ({ message: 'playStream', data: [{ mediaSessionId: id, name, ...(sdp === undefined ? {} : { sdp }) }] });

/** The id the session named for its request (the requester names what it creates). */
export function refOf(call: Call): string {
  const params = v.parse(v.object({ publishId: v.optional(v.string()), playId: v.optional(v.string()) }), call.params);
  const id = params.publishId ?? params.playId;
  if (id === undefined) throw new Error('the request names no id');
  return id;
}

