/**
 * A raw Janus API client for leak checks, independent of the bridge's own Janus code: one session
 * and one VideoRoom handle over Janus's WebSocket API (with the api_secret), asking what exists:
 * rooms, their participants (local and remote publishers) and a publisher's remotizations.
 * It only reads.
 */
import { randomUUID } from 'node:crypto';
import * as v from 'valibot';
import WebSocket from 'ws';

const Reply = v.object({
  janus: v.string(),
  transaction: v.optional(v.string()),
  data: v.optional(v.object({ id: v.number() })),
  error: v.optional(v.object({ code: v.number(), reason: v.string() })),
  plugindata: v.optional(v.object({ data: v.record(v.string(), v.unknown()) })),
});

const RoomList = v.object({
  list: v.array(v.object({ room: v.number(), description: v.string(), num_participants: v.number() })),
});
const ParticipantList = v.object({
  participants: v.array(v.object({ id: v.number(), display: v.optional(v.string()), publisher: v.boolean(), remote: v.optional(v.boolean()) })),
});
const RemoteList = v.object({
  list: v.array(v.object({ remote_id: v.string(), host: v.string(), port: v.number(), rtcp_port: v.optional(v.number()) })),
});

const ForwarderList = v.object({
  publishers: v.array(v.object({ publisher_id: v.number(), forwarders: v.optional(v.array(v.record(v.string(), v.unknown())), []) })),
});

const MountpointList = v.object({ list: v.array(v.object({ id: v.number(), description: v.optional(v.string(), '') })) });

export type Room = v.InferOutput<typeof RoomList>['list'][number];
export type Participant = v.InferOutput<typeof ParticipantList>['participants'][number];
export type Remote = v.InferOutput<typeof RemoteList>['list'][number];

export interface FanoutRoom extends Room {
  participants: Participant[];
}

export class JanusInspector {
  readonly #ws: WebSocket;
  readonly #secret: string;
  readonly #pending = new Map<string, (reply: v.InferOutput<typeof Reply>) => void>();
  #session = 0;
  #handle = 0;
  /** A Streaming handle, when the node has the plugin (0 otherwise). */
  #streaming = 0;
  #keepalive: NodeJS.Timeout | undefined;

  private constructor(ws: WebSocket, secret: string) {
    this.#ws = ws;
    this.#secret = secret;
    ws.on('message', (data) => {
      const reply = v.parse(Reply, JSON.parse(String(data)));
      if (reply.janus === 'ack' || reply.transaction === undefined) return;
      this.#pending.get(reply.transaction)?.(reply);
      this.#pending.delete(reply.transaction);
    });
  }

  /** Connects to a Janus node's WebSocket API (e.g. ws://127.0.0.1:8189). */
  static async connect(url: string, apiSecret: string): Promise<JanusInspector> {
    const ws = new WebSocket(url, 'janus-protocol');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const inspector = new JanusInspector(ws, apiSecret);
    inspector.#session = inspector.#id(await inspector.#call({ janus: 'create' }));
    inspector.#handle = inspector.#id(await inspector.#call({ janus: 'attach', session_id: inspector.#session, plugin: 'janus.plugin.videoroom' }));
    // Attached now, not on first use, so the inspector's own handles stay the same all along.
    const streaming = await inspector.#call({ janus: 'attach', session_id: inspector.#session, plugin: 'janus.plugin.streaming' });
    inspector.#streaming = streaming.data?.id ?? 0;
    inspector.#keepalive = setInterval(() => void inspector.#call({ janus: 'keepalive', session_id: inspector.#session }).catch(() => undefined), 15_000);
    return inspector;
  }

  #id(reply: v.InferOutput<typeof Reply>): number {
    if (reply.data === undefined) throw new Error(`janus: ${reply.error?.code} ${reply.error?.reason}`);
    return reply.data.id;
  }

  #call(msg: Record<string, unknown>, timeoutMs = 5000): Promise<v.InferOutput<typeof Reply>> {
    const transaction = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(transaction);
        reject(new Error(`janus ${String(msg['janus'])}: no reply`));
      }, timeoutMs);
      this.#pending.set(transaction, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.#ws.send(JSON.stringify({ ...msg, transaction, apisecret: this.#secret }));
    });
  }

  /** A synchronous VideoRoom request; returns its plugin data, throws on an error reply. */
  async request(body: Record<string, unknown>, plugin: 'videoroom' | 'streaming' = 'videoroom'): Promise<Record<string, unknown>> {
    const handle = plugin === 'videoroom' ? this.#handle : this.#streaming;
    if (handle === 0) throw new Error(`janus: this node has no ${plugin} plugin`);
    const reply = await this.#call({ janus: 'message', session_id: this.#session, handle_id: handle, body });
    const data = reply.plugindata?.data;
    if (data === undefined) throw new Error(`janus: ${reply.error?.code} ${reply.error?.reason}`);
    if (typeof data['error_code'] === 'number') throw new Error(`videoroom: ${data['error_code']} ${String(data['error'])}`);
    return data;
  }

  async rooms(): Promise<Room[]> {
    return v.parse(RoomList, await this.request({ request: 'list', admin_key: this.#secret })).list;
  }

  async participants(room: number): Promise<Participant[]> {
    return v.parse(ParticipantList, await this.request({ request: 'listparticipants', room })).participants;
  }

  async remotes(room: number, publisherId: number): Promise<Remote[]> {
    return v.parse(RemoteList, await this.request({ request: 'listremotes', room, publisher_id: publisherId })).list;
  }

  /** RTP forwarders in a room, per publisher (local or remote) that has any. */
  async forwarders(room: number): Promise<Array<{ publisherId: number; count: number }>> {
    const data = v.parse(ForwarderList, await this.request({ request: 'listforwarders', room, admin_key: this.#secret }));
    return data.publishers.map((p) => ({ publisherId: p.publisher_id, count: p.forwarders.length })).filter((p) => p.count > 0);
  }

  /** Streaming mountpoints a Fanout bridge made (description "fanout:..."); none without the plugin. */
  async fanoutMountpoints(): Promise<Array<{ id: number; description: string }>> {
    if (this.#streaming === 0) return [];
    const data = v.parse(MountpointList, await this.request({ request: 'list', admin_key: this.#secret }, 'streaming'));
    return data.list.filter((m) => m.description.startsWith('fanout:'));
  }

  /** Every room a Fanout bridge made (description "fanout:<stream>"), with its participants. */
  async fanoutRooms(): Promise<FanoutRoom[]> {
    const rooms = (await this.rooms()).filter((r) => r.description.startsWith('fanout:'));
    const found = await Promise.all(
      rooms.map(async (r) => {
        try {
          return [{ ...r, participants: await this.participants(r.room) }];
        } catch (err) {
          // Destroyed between the two requests: it is not there any more.
          if (err instanceof Error && err.message.startsWith('videoroom: 426 ')) return [];
          throw err;
        }
      }),
    );
    return found.flat();
  }

  /** What Fanout left on this node, by description: its rooms and its mountpoints (both empty when clean). */
  async leftovers(): Promise<{ rooms: string[]; mountpoints: string[] }> {
    return { rooms: (await this.fanoutRooms()).map((r) => r.description), mountpoints: (await this.fanoutMountpoints()).map((m) => m.description) };
  }

  /** The Fanout room of one stream, if there is one. */
  async streamRoom(stream: string): Promise<FanoutRoom | undefined> {
    return (await this.fanoutRooms()).find((r) => r.description === `fanout:${stream}`);
  }

  async close(): Promise<void> {
    clearInterval(this.#keepalive);
    await this.#call({ janus: 'destroy', session_id: this.#session }, 2000).catch(() => undefined);
    this.#ws.close();
  }
}

// ---------------------------------------------------------------- the admin API (sessions and handles)

const AdminReply = v.object({
  janus: v.string(),
  transaction: v.optional(v.string()),
  sessions: v.optional(v.array(v.number())),
  handles: v.optional(v.array(v.number())),
  info: v.optional(v.object({ plugin: v.optional(v.string()) })),
  error: v.optional(v.object({ code: v.number(), reason: v.string() })),
});
type AdminReply = v.InferOutput<typeof AdminReply>;

/** A handle as the admin API lists it. */
export interface HandleInfo {
  session: number;
  handle: number;
  plugin: string;
}

/**
 * Janus's admin API over WebSocket (on when the launcher runs with FANOUT_JANUS_ADMIN_PORT_OFFSET):
 * every session and handle of the node, whoever made them, so leaks the VideoRoom's own lists
 * cannot show (a subscriber handle nobody detached) are counted too. It only reads.
 */
export class JanusAdmin {
  readonly #ws: WebSocket;
  readonly #secret: string;
  readonly #pending = new Map<string, (reply: AdminReply) => void>();

  private constructor(ws: WebSocket, secret: string) {
    this.#ws = ws;
    this.#secret = secret;
    ws.on('message', (data) => {
      const reply = v.parse(AdminReply, JSON.parse(String(data)));
      if (reply.transaction === undefined) return;
      this.#pending.get(reply.transaction)?.(reply);
      this.#pending.delete(reply.transaction);
    });
  }

  static async connect(url: string, adminSecret: string): Promise<JanusAdmin> {
    const ws = new WebSocket(url, 'janus-admin-protocol');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new JanusAdmin(ws, adminSecret);
  }

  #call(msg: Record<string, unknown>, timeoutMs = 5000): Promise<AdminReply> {
    const transaction = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(transaction);
        reject(new Error(`janus admin ${String(msg['janus'])}: no reply`));
      }, timeoutMs);
      this.#pending.set(transaction, (reply) => {
        clearTimeout(timer);
        if (reply.janus !== 'success') reject(new Error(`janus admin ${String(msg['janus'])}: ${reply.error?.code} ${reply.error?.reason}`));
        else resolve(reply);
      });
      this.#ws.send(JSON.stringify({ ...msg, transaction, admin_secret: this.#secret }));
    });
  }

  async sessions(): Promise<number[]> {
    return (await this.#call({ janus: 'list_sessions' })).sessions ?? [];
  }

  /** Every handle of every session, with its plugin; sessions or handles that go while listing are skipped. */
  async handles(): Promise<HandleInfo[]> {
    const out: HandleInfo[] = [];
    for (const session of await this.sessions()) {
      let handles: number[];
      try {
        handles = (await this.#call({ janus: 'list_handles', session_id: session })).handles ?? [];
      } catch {
        continue; // the session ended meanwhile
      }
      for (const handle of handles) {
        try {
          const info = await this.#call({ janus: 'handle_info', session_id: session, handle_id: handle });
          out.push({ session, handle, plugin: info.info?.plugin ?? '' });
        } catch {
          // detached meanwhile
        }
      }
    }
    return out;
  }

  /**
   * Hangs up a handle's PeerConnection as Janus does on a DTLS alert from the peer (the same
   * janus_ice_webrtc_hangup): its plugin is told, and the handle stays.
   */
  async hangup(h: HandleInfo): Promise<void> {
    await this.#call({ janus: 'hangup_webrtc', session_id: h.session, handle_id: h.handle });
  }

  close(): void {
    this.#ws.close();
  }
}

/** Sessions and handles of one node, as its admin API counts them. */
export interface HandleCount {
  sessions: number;
  handles: number;
}

/** Every node's session and handle counts, through each node's admin API (`adminPorts`: node id to port). */
export async function handleCounts<N extends string>(adminPorts: Readonly<Record<N, number>>, adminSecret: string): Promise<Record<N, HandleCount>> {
  const entries = Object.entries(adminPorts) as Array<[N, number]>;
  const counts = await Promise.all(
    entries.map(async ([node, port]): Promise<[N, HandleCount]> => {
      const admin = await JanusAdmin.connect(`ws://127.0.0.1:${port}`, adminSecret);
      try {
        const handles = await admin.handles();
        return [node, { sessions: new Set(handles.map((h) => h.session)).size, handles: handles.length }];
      } finally {
        admin.close();
      }
    }),
  );
  return Object.fromEntries(counts) as Record<N, HandleCount>;
}
