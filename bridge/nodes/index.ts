/**
 * One Janode connection per configured Janus node, reconnecting with backoff, with each node's
 * health (up/down, since when) and load (publishers, subscribers). Emits `up`, `down` and `changed`
 * so the media layer can re-cascade and the API can push node events to the worker.
 */
import { EventEmitter } from 'node:events';
import Janode from 'janode';
import type { JanodeConnection, JanodeHandle, JanodeSession } from 'janode';
import StreamingPlugin from 'janode/plugins/streaming';
import VideoRoomPlugin from 'janode/plugins/videoroom';
import type { NodeInfo } from '../../protocol/index.ts';
import { CdnError, Errors, errorText } from '../../protocol/errors.ts';
import type { Topology, TopologyNode } from '../topology/index.ts';
import { adoptHandle, claimSession } from '../janus/claim.ts';
import { toCdnError } from '../janus/errors.ts';
import { withTimeout } from '../janus/request.ts';
import type { NodeRecord, NodeSession } from '../state/journal.ts';
import type { Logger } from '../log.ts';

export interface NodeManagerOptions {
  topology: Topology;
  /** The Janus `api_secret`, sent with every request. */
  apiSecret: string | undefined;
  /** How often a live connection is probed with an `info` request. */
  healthIntervalMs?: number;
  /** Reconnect backoff bounds. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * The Janus sessions an earlier bridge run left, by node (its journal): each node's first
   * connection claims its session instead of creating one, so what that run made stays.
   */
  reclaim?: Readonly<Record<string, NodeRecord>> | undefined;
  /** Drive only this node (an agent, `bridge/main.ts --node <id>`); undefined: every node. */
  only?: string | undefined;
  log: Logger;
}

/** Janus session keep-alive (s): well inside Janus's session_timeout and reclaim_session_timeout. */
const SESSION_KEEPALIVE_S = 15;
/** How long a `claim` may take. */
const CLAIM_TIMEOUT_MS = 5_000;

interface NodeEvents {
  up: [JanusNode];
  down: [JanusNode];
  /** Health or load changed. */
  changed: [JanusNode];
}

export class JanusNode {
  readonly config: TopologyNode;
  #up = false;
  #since = Date.now();
  #connection: JanodeConnection | undefined;
  #session: JanodeSession | undefined;
  #control: JanodeHandle | undefined;
  #streamingControl: JanodeHandle | undefined;
  readonly load = { publishers: 0, subscribers: 0 };
  /** Bumped on every (re)connection, so work started on an old session can tell it is stale. */
  generation = 0;
  #reclaimed = false;

  constructor(config: TopologyNode) {
    this.config = config;
  }

  get id(): string {
    return this.config.id;
  }
  get role(): 'origin' | 'edge' {
    return this.config.role;
  }
  get up(): boolean {
    return this.#up;
  }
  get since(): number {
    return this.#since;
  }

  /** A long-lived VideoRoom handle for room management requests (create, destroy, lists, remotes). */
  get control(): JanodeHandle {
    if (!this.#up || this.#control === undefined) throw this.unavailable();
    return this.#control;
  }

  /** A long-lived Streaming handle for mountpoint management (create, destroy, list). */
  get streamingControl(): JanodeHandle {
    if (!this.#up || this.#streamingControl === undefined) throw this.unavailable();
    return this.#streamingControl;
  }

  /** Attaches a new VideoRoom handle (a publisher) on this node's session. */
  async attach(): Promise<JanodeHandle> {
    return this.#attach(VideoRoomPlugin, 'VideoRoom');
  }

  /** Attaches a new Streaming handle (a viewer of a mountpoint) on this node's session. */
  async attachStreaming(): Promise<JanodeHandle> {
    return this.#attach(StreamingPlugin, 'Streaming');
  }

  async #attach(plugin: typeof VideoRoomPlugin, name: string): Promise<JanodeHandle> {
    if (!this.#up || this.#session === undefined) throw this.unavailable();
    try {
      return await this.#session.attach(plugin);
    } catch (err) {
      throw toCdnError(err, `attach ${name} on node ${this.id}`);
    }
  }

  /** Whether the current connection claimed the session an earlier bridge run left. */
  get reclaimed(): boolean {
    return this.#up && this.#reclaimed;
  }

  /** A handle object for handle `id` of the current (reclaimed) session; nothing is sent to Janus. */
  adoptHandle(plugin: 'videoroom' | 'streaming', id: number): JanodeHandle {
    if (!this.#up || this.#session === undefined) throw this.unavailable();
    return adoptHandle(this.#session, plugin === 'videoroom' ? VideoRoomPlugin : StreamingPlugin, id);
  }

  /** The ids a restarted bridge needs to claim this node's session (the journal's), while it is up. */
  record(): NodeSession | undefined {
    if (!this.#up || this.#session === undefined || this.#control === undefined || this.#streamingControl === undefined) return undefined;
    return { session: this.#session.id, control: this.#control.id, streamingControl: this.#streamingControl.id };
  }

  info(): NodeInfo {
    return {
      id: this.id,
      role: this.role,
      host: this.config.host,
      up: this.#up,
      since: this.#since,
      load: { ...this.load },
    };
  }

  unavailable(): CdnError {
    return Errors.nodeDown(this.id);
  }

  /** @internal NodeManager only. */
  setConnected(connection: JanodeConnection, session: JanodeSession, control: JanodeHandle, streamingControl: JanodeHandle, reclaimed: boolean): void {
    this.#reclaimed = reclaimed;
    this.#connection = connection;
    this.#session = session;
    this.#control = control;
    this.#streamingControl = streamingControl;
    this.#up = true;
    this.#since = Date.now();
    this.generation++;
  }

  /** @internal NodeManager only. Returns the connection to close, if any. */
  setDown(): JanodeConnection | undefined {
    const connection = this.#connection;
    const wasUp = this.#up;
    this.#connection = undefined;
    this.#session = undefined;
    this.#control = undefined;
    this.#streamingControl = undefined;
    this.#up = false;
    if (wasUp) this.#since = Date.now();
    this.load.publishers = 0;
    this.load.subscribers = 0;
    return connection;
  }

  /** @internal */
  get connection(): JanodeConnection | undefined {
    return this.#connection;
  }

  /** @internal NodeManager only. */
  get session(): JanodeSession | undefined {
    return this.#session;
  }
}

export class NodeManager extends EventEmitter<NodeEvents> {
  /** The nodes this process drives. */
  readonly nodes: ReadonlyMap<string, JanusNode>;
  /** The topology's origins, by id, in topology order (driven here or not). */
  readonly originIds: readonly string[];
  readonly #topology: Topology;
  readonly #opts: Required<Omit<NodeManagerOptions, 'apiSecret' | 'reclaim' | 'only'>> & { apiSecret: string | undefined };
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Sessions still to claim, by node: used by each node's first connection only. */
  readonly #reclaim: Map<string, NodeRecord>;
  readonly #firstTries: Promise<void>;
  readonly #firstTried = new Map<string, () => void>();
  #closed = false;

  constructor(opts: NodeManagerOptions) {
    super();
    this.#opts = { healthIntervalMs: 2000, minBackoffMs: 200, maxBackoffMs: 3000, ...opts };
    this.#reclaim = new Map(Object.entries(opts.reclaim ?? {}));
    this.#topology = opts.topology;
    const driven = opts.only === undefined ? opts.topology.nodes : opts.topology.nodes.filter((n) => n.id === opts.only);
    if (driven.length === 0) throw Errors.nodeUnknown(opts.only ?? '');
    this.#firstTries = Promise.all(driven.map((n) => new Promise<void>((resolve) => this.#firstTried.set(n.id, resolve)))).then(() => undefined);
    this.nodes = new Map(driven.map((n) => [n.id, new JanusNode(n)]));
    this.originIds = opts.topology.origins.map((n) => n.id);
  }

  get all(): JanusNode[] {
    return [...this.nodes.values()];
  }

  get edges(): JanusNode[] {
    return [...this.nodes.values()].filter((n) => n.role === 'edge');
  }

  get(id: string): JanusNode {
    const node = this.nodes.get(id);
    if (node !== undefined) return node;
    if (this.#topology.nodes.some((n) => n.id === id)) throw Errors.nodeElsewhere(id, [...this.nodes.keys()].join(', '));
    throw Errors.nodeUnknown(id);
  }

  snapshot(): NodeInfo[] {
    return [...this.nodes.values()].map((n) => n.info());
  }

  /** Starts connecting to every node; returns at once. */
  start(): void {
    for (const node of this.nodes.values()) void this.#connect(node, 0);
  }

  /** Resolves once every node has connected or failed its first try. */
  firstTries(): Promise<void> {
    return this.#firstTries;
  }

  /** Call after changing a node's load figures. */
  loadChanged(node: JanusNode): void {
    this.#safeEmit('changed', node);
  }

  /** Resolves once every node is up, or rejects after `timeoutMs`. */
  async whenAllUp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ([...this.nodes.values()].some((n) => !n.up)) {
      if (Date.now() > deadline) {
        const down = [...this.nodes.values()].filter((n) => !n.up).map((n) => n.id);
        throw new CdnError('UNAVAILABLE', `nodes still down after ${timeoutMs} ms: ${down.join(', ')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await Promise.all(
      [...this.nodes.values()].map(async (node) => {
        // A clean stop destroys the session: Janus would otherwise keep it for reclaim_session_timeout.
        const session = node.session;
        const connection = node.setDown();
        if (session !== undefined) await withTimeout(session.destroy(), CLAIM_TIMEOUT_MS, `destroy the session on ${node.id}`).catch(() => undefined);
        await connection?.close().catch(() => undefined);
      }),
    );
  }

  #schedule(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  async #connect(node: JanusNode, attempt: number): Promise<void> {
    if (this.#closed) return;
    const { apiSecret, log } = this.#opts;
    let connection: JanodeConnection | undefined;
    try {
      connection = await Janode.connect({
        address: apiSecret === undefined ? { url: node.config.janusUrl } : { url: node.config.janusUrl, apisecret: apiSecret },
        retry_time_secs: 1,
        max_retries: 0,
      });
      const claimed = await this.#claim(node, connection);
      const session = claimed?.session ?? (await connection.create(SESSION_KEEPALIVE_S));
      const control = claimed?.control ?? (await session.attach(VideoRoomPlugin));
      const streamingControl = claimed?.streamingControl ?? (await session.attach(StreamingPlugin));
      if (this.#closed) {
        await connection.close().catch(() => undefined);
        return;
      }
      const onLost = (why: string): void => this.#lost(node, connection!, why);
      connection.once(Janode.EVENT.CONNECTION_CLOSED, () => onLost('connection closed'));
      connection.once(Janode.EVENT.CONNECTION_ERROR, (e: unknown) => onLost(`connection error: ${errorText(janodeError(e))}`));
      session.once(Janode.EVENT.SESSION_DESTROYED, () => onLost('session destroyed'));
      node.setConnected(connection, session, control, streamingControl, claimed !== undefined);
      log.info('janus node up', { node: node.id, url: node.config.janusUrl, ...(claimed === undefined ? {} : { reclaimedSession: session.id }) });
      this.#safeEmit('up', node);
      this.#safeEmit('changed', node);
      this.#probe(node, node.generation);
      this.#firstTried.get(node.id)?.();
    } catch (err) {
      this.#firstTried.get(node.id)?.();
      await connection?.close().catch(() => undefined);
      const delay = Math.min(this.#opts.maxBackoffMs, this.#opts.minBackoffMs * 2 ** Math.min(attempt, 8));
      if (attempt === 0 || attempt % 20 === 0) {
        log.warn('janus node unreachable', { node: node.id, url: node.config.janusUrl, err: janodeError(err), retryInMs: delay });
      }
      this.#schedule(() => void this.#connect(node, attempt + 1), delay);
    }
  }

  /**
   * Claims the session an earlier bridge run left on `node` (first connection only). Undefined when
   * there is none or Janus refuses it (it timed out, or Janus restarted): then a fresh one is made.
   */
  async #claim(node: JanusNode, connection: JanodeConnection): Promise<{ session: JanodeSession; control: JanodeHandle; streamingControl: JanodeHandle } | undefined> {
    const record = this.#reclaim.get(node.id);
    if (record === undefined) return undefined;
    this.#reclaim.delete(node.id);
    try {
      const session = await claimSession(connection, record.session, SESSION_KEEPALIVE_S, CLAIM_TIMEOUT_MS);
      return {
        session,
        control: adoptHandle(session, VideoRoomPlugin, record.control),
        streamingControl: adoptHandle(session, StreamingPlugin, record.streamingControl),
      };
    } catch (err) {
      this.#opts.log.warn('cannot take back the Janus session an earlier bridge run left; starting a new one', {
        node: node.id,
        session: record.session,
        err: janodeError(err),
      });
      return undefined;
    }
  }

  /** Probes a live connection so that a hung (not closed) Janus is noticed too. */
  #probe(node: JanusNode, generation: number): void {
    this.#schedule(async () => {
      if (this.#closed || node.generation !== generation || !node.up) return;
      const connection = node.connection;
      if (connection === undefined) return;
      const timeout = new Promise<never>((_, reject) => {
        setTimeout(() => reject(new Error('health probe timed out')), this.#opts.healthIntervalMs).unref();
      });
      try {
        await Promise.race([connection.getInfo(), timeout]);
        this.#probe(node, generation);
      } catch (err) {
        if (node.generation === generation) this.#lost(node, connection, errorText(janodeError(err)));
      }
    }, this.#opts.healthIntervalMs);
  }

  #lost(node: JanusNode, connection: JanodeConnection, why: string): void {
    if (node.connection !== connection) return; // an older connection
    const old = node.setDown();
    void old?.close().catch(() => undefined);
    if (this.#closed) return;
    this.#opts.log.warn('janus node down', { node: node.id, why });
    this.#safeEmit('down', node);
    this.#safeEmit('changed', node);
    this.#schedule(() => void this.#connect(node, 0), this.#opts.minBackoffMs);
  }

  #safeEmit<K extends keyof NodeEvents>(event: K, ...args: NodeEvents[K]): void {
    for (const listener of this.listeners(event)) {
      try {
        (listener as (...a: NodeEvents[K]) => void)(...args);
      } catch (err) {
        this.#opts.log.error('node event listener threw', { event, err });
      }
    }
  }
}

/**
 * A Janode failure as an Error. Janode rejects a WebSocket that cannot open (the node is
 * unreachable) with the `ws` ErrorEvent itself, which is no Error and prints as
 * "[object Object]" (or "{}" as JSON); the Error it carries names the cause (ECONNREFUSED ...).
 */
export function janodeError(err: unknown): unknown {
  if (err instanceof Error || typeof err !== 'object' || err === null) return err;
  const inner: unknown = Reflect.get(err, 'error');
  if (inner instanceof Error) return inner;
  const message: unknown = Reflect.get(err, 'message');
  return typeof message === 'string' && message !== '' ? new Error(message) : err;
}
