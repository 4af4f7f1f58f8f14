/**
 * Helpers for the worker's tests inside workerd: a bridge stand-in scenario per test (its own URL,
 * node list and request log), calling the worker with that bridge, and a WCS WebSocket client that
 * queues what the worker sends. Test-only; nothing in the worker imports it.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { inject } from 'vitest';
import * as v from 'valibot';
import { WorkerReport, type BridgeEvent, type BridgeRequest, type NodeInfo, type StreamInfo } from '../protocol/index.ts';
import type { Env } from './env.ts';
import worker from './index.ts';

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {}
  }
}
type WorkerEnv = import('./env.ts').Env;

export const OFFER_SDP = 'v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=test offer\r\nt=0 0\r\n';
export const ANSWER_SDP = 'v=0\r\no=- 8 8 IN IP4 127.0.0.1\r\ns=test answer\r\nt=0 0\r\n';
/** What the stand-in answers with (see test-support/bridge-stand-in.ts). */
export const STAND_IN_ANSWER_SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=stand-in answer\r\nt=0 0\r\n';
export const STAND_IN_OFFER_SDP = 'v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=stand-in offer\r\nt=0 0\r\n';

let scenarioCounter = 0;

/** A fresh stand-in scenario: its own bridge URL, node list and log. */
export class Scenario {
  readonly name: string;
  readonly url: string;

  constructor(label: string) {
    this.name = `${label.replace(/[^a-z0-9-]/gi, '-')}-${Date.now().toString(36)}-${scenarioCounter++}`;
    this.url = `${inject('bridgeUrl')}/s/${this.name}`;
  }

  /** The worker's env with BRIDGE_URL pointing at this scenario (plus any overrides). */
  env(overrides: Partial<Record<Exclude<keyof Env, 'BALANCER' | 'COORDINATOR' | 'STREAM_RECORDS' | 'ASSETS' | 'BRIDGE_URL'>, string>> = {}): Env {
    return { ...env, BRIDGE_URL: this.url, ...overrides };
  }

  async configure(cfg: { mode?: string; loadBalancing?: boolean; nodes?: NodeInfo[]; streams?: StreamInfo[]; graceMs?: number; bindDelayMs?: number; agentNode?: string; reports?: boolean }): Promise<void> {
    const resp = await fetch(`${this.url}/config`, { method: 'POST', body: JSON.stringify(cfg) });
    if (!resp.ok) throw new Error(`stand-in config failed: ${await resp.text()}`);
  }

  async push(event: BridgeEvent): Promise<void> {
    const resp = await fetch(`${this.url}/event`, { method: 'POST', body: JSON.stringify(event) });
    if (!resp.ok) throw new Error(`stand-in event failed: ${await resp.text()}`);
  }

  /** Closes every bridge connection of the scenario (as a bridge restart would). */
  async drop(): Promise<void> {
    await (await fetch(`${this.url}/drop`, { method: 'POST' })).text();
  }

  /** Drops every bridge connection abnormally (1006, as kill -9), then refuses new ones for `refuseMs`. */
  async kill(refuseMs = 0): Promise<void> {
    await this.#post('kill', { refuseMs });
  }

  /** Refuses new bridge connections for `ms` (0: accepts again); open ones stay. */
  async refuse(ms: number): Promise<void> {
    await this.#post('refuse', { ms });
  }

  /** A publish or play id ends while its link is away (`bind` then reports it gone). */
  async end(id: string, status: 'UNPUBLISHED' | 'STOPPED' | 'FAILED', info: string): Promise<void> {
    await this.#post('end', { id, status, info });
  }

  async #post(what: string, body: unknown): Promise<void> {
    const resp = await fetch(`${this.url}/${what}`, { method: 'POST', body: JSON.stringify(body) });
    if (!resp.ok) throw new Error(`stand-in ${what} failed: ${await resp.text()}`);
    await resp.text();
  }

  async log(): Promise<StandInLog> {
    const resp = await fetch(`${this.url}/log`);
    return v.parse(StandInLogSchema, await resp.json());
  }

  /** The requests of one method the stand-in received. */
  async requests(method?: BridgeRequest['method']): Promise<{ method: string; params: unknown }[]> {
    const log = await this.log();
    return log.requests.filter((r) => method === undefined || r.method === method);
  }
}

const StandInLogSchema = v.object({
  requests: v.array(v.object({ id: v.number(), method: v.string(), params: v.unknown() })),
  reports: v.array(WorkerReport),
  invalid: v.array(v.unknown()),
  connections: v.number(),
  closed: v.number(),
  unauthorized: v.number(),
  open: v.array(v.string()),
  orphaned: v.array(v.string()),
  released: v.array(v.string()),
  refused: v.number(),
});
export type StandInLog = v.InferOutput<typeof StandInLogSchema>;

/** Calls the worker's fetch handler as workerd would. */
export async function callWorker(url: string, init: RequestInit<IncomingRequestCfProperties> = {}, workerEnv: Env = env): Promise<Response> {
  const ctx = createExecutionContext();
  const resp = await worker.fetch(new Request<unknown, IncomingRequestCfProperties>(url, init), workerEnv, ctx);
  await waitOnExecutionContext(ctx);
  return resp;
}

export async function json(resp: Response): Promise<unknown> {
  return resp.json();
}

const Frame = v.object({ message: v.string(), data: v.array(v.unknown()) });
export type Frame = v.InferOutput<typeof Frame>;

/** A WCS client over the worker's WebSocket, with a queue of received frames. */
export class WcsClient {
  readonly #ws: WebSocket;
  readonly #queue: Frame[] = [];
  readonly #waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  /** Every frame received, in order (also the ones taken by `next`). */
  readonly received: Frame[] = [];
  closed: { code: number; reason: string } | undefined;
  readonly #closeWaiters: ((c: { code: number; reason: string }) => void)[] = [];

  constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.accept();
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string') return;
      const frame = v.parse(Frame, JSON.parse(ev.data));
      this.received.push(frame);
      const i = this.#waiters.findIndex((w) => w.match(frame));
      const waiter = i >= 0 ? this.#waiters.splice(i, 1)[0] : undefined;
      if (waiter !== undefined) waiter.resolve(frame);
      else this.#queue.push(frame);
    });
    ws.addEventListener('close', (ev) => {
      this.closed = { code: ev.code, reason: ev.reason };
      for (const w of this.#closeWaiters.splice(0)) w(this.closed);
    });
  }

  send(frame: unknown): void {
    this.#ws.send(JSON.stringify(frame));
  }
  sendRaw(data: string | ArrayBuffer): void {
    this.#ws.send(data);
  }

  /** The next frame (optionally: with this message name) within `ms`. */
  next(message?: string, ms = 3_000): Promise<Frame> {
    const match = (f: Frame): boolean => message === undefined || f.message === message;
    const i = this.#queue.findIndex(match);
    if (i >= 0) {
      const frame = this.#queue.splice(i, 1)[0];
      if (frame !== undefined) return Promise.resolve(frame);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      const timer = setTimeout(() => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        reject(new Error(`no ${message ?? 'frame'} within ${ms} ms; received: ${JSON.stringify(this.received.map((f) => f.message))}`));
      }, ms);
      this.#waiters.push(waiter);
    });
  }

  /** The data[0] object of the next frame named `message`. */
  async nextData(message: string, ms?: number): Promise<Record<string, unknown>> {
    const frame = await this.next(message, ms);
    return v.parse(v.record(v.string(), v.unknown()), frame.data[0]);
  }

  /** Frames received but not taken yet. */
  pending(): Frame[] {
    return [...this.#queue];
  }

  async connect(): Promise<Record<string, unknown>> {
    this.send({ message: 'connection', data: [{ appKey: 'defaultApp', clientVersion: '2.0', mediaProviders: ['WebRTC'] }] });
    return this.nextData('getUserData');
  }

  waitClosed(ms = 3_000): Promise<{ code: number; reason: string }> {
    if (this.closed !== undefined) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socket not closed within ${ms} ms`)), ms);
      this.#closeWaiters.push((c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
  }

  close(): void {
    try {
      this.#ws.close(1000, 'test done');
    } catch {
      // already closed
    }
  }
}

/** Opens the WCS WebSocket at `url` through the worker (Host from the URL unless given). */
export async function openWcs(url: string, workerEnv: Env, headers: Record<string, string> = {}): Promise<WcsClient> {
  const resp = await callWorkerNoWait(url, { headers: { Upgrade: 'websocket', ...headers } }, workerEnv);
  const ws = resp.webSocket;
  if (ws === null) throw new Error(`no WebSocket: HTTP ${resp.status} ${await resp.text()}`);
  return new WcsClient(ws);
}

/** Like callWorker, without waiting for the context (a WebSocket keeps it open). */
export function callWorkerNoWait(url: string, init: RequestInit<IncomingRequestCfProperties>, workerEnv: Env): Promise<Response> {
  return Promise.resolve(worker.fetch(new Request<unknown, IncomingRequestCfProperties>(url, init), workerEnv, createExecutionContext()));
}

/** Polls `check` until it returns true (or fails after `ms`). */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 3_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function node(id: string, role: 'origin' | 'edge', extra: Partial<NodeInfo> = {}): NodeInfo {
  return { id, role, host: `${id}.localhost:8787`, up: true, since: 1, load: { publishers: 0, subscribers: 0 }, ...extra };
}
