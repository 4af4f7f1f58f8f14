/**
 * The bridge's internal API, as spoken between the worker and the bridge over one authenticated
 * WebSocket. Schemas are the contract: one valibot variant per direction, types inferred.
 * Pure: no runtime imports, shared by the bridge and the worker.
 *
 *   worker -> bridge   { id, method, params }                     (BridgeRequest)
 *   bridge -> worker   { id, result } | { id, error }             (BridgeResponse)
 *                      { event, ... }                             (BridgeEvent)
 */
import * as v from 'valibot';
import { ERROR_CODE_NAMES } from './errors.ts';
import { StreamsResult, WorkerReport } from './status.ts';

/** The path the bridge serves its WebSocket API at. */
export const BRIDGE_API_PATH = '/api';
/** How long the worker waits for any bridge reply. */
export const BRIDGE_REQUEST_TIMEOUT_MS = 15_000;
/**
 * Keep-alive on the worker-bridge link: the worker sends `ping` this often, and a link whose ping
 * is still unanswered at the next one is declared lost (so a dead link is found within 2 periods).
 * The bridge likewise pings every worker socket at the WebSocket level and drops silent ones.
 */
export const BRIDGE_KEEPALIVE_MS = 5_000;
/**
 * Node membership and load: an agent reports its whole node list (`report`) this often to every
 * link that asked `nodes`, and the worker takes an agent that has not reported for NODE_STALE_MS as
 * stale: its nodes are down until it reports again. A hung agent (its link open, nothing sent) is
 * out of the balancer within NODE_STALE_MS, and loads are never older than NODE_REPORT_MS.
 */
export const NODE_REPORT_MS = 2_000;
export const NODE_STALE_MS = 5_000;
/**
 * Links that move. A link that closes with BRIDGE_RELEASE_CLOSE_CODE (the worker's own `close()`:
 * the client session is over) releases everything it owned at once. A link that is lost any other
 * way (the bridge restarted, a keep-alive timed out, the network dropped) leaves what it owned in
 * place, media flowing, for BRIDGE_OWNER_GRACE_MS: a new link that names those ids in `bind` takes
 * them over; what nobody binds by then is released. A restarted bridge gives what it re-adopted the
 * same grace from its start.
 */
export const BRIDGE_RELEASE_CLOSE_CODE = 1000;
export const BRIDGE_OWNER_GRACE_MS = 30_000;
/**
 * How long a worker session keeps trying to re-open a lost link and re-bind its publishes and plays
 * before it fails them (less than the grace, so a bind that succeeds finds them still there).
 */
export const BRIDGE_RELINK_WINDOW_MS = 20_000;
/** Most ids in one `bind`. */
export const MAX_BIND_IDS = 256;
/** Largest SDP accepted anywhere (bytes). */
export const MAX_SDP_LENGTH = 64 * 1024;

export const STREAM_NAME_RULE =
  'a stream name is 1-128 characters: letters, digits, "_", "-", "." or "~", not starting with "." or "-"';
export const StreamName = v.pipe(
  v.string('stream name must be a string'),
  v.regex(/^[A-Za-z0-9_~][A-Za-z0-9_.~-]{0,127}$/, STREAM_NAME_RULE),
);

export const NodeId = v.pipe(v.string('node must be a string'), v.regex(/^[a-z][a-z0-9-]{0,31}$/, 'node must be a node id such as "edge-1"'));

export const Sdp = v.pipe(
  v.string('sdp must be a string'),
  v.maxLength(MAX_SDP_LENGTH, `sdp must be at most ${MAX_SDP_LENGTH} bytes`),
  v.startsWith('v=0', 'sdp must be a session description starting with "v=0"'),
);

/**
 * The id of one publish or play. The requester (the worker) names it before it asks, with
 * `newMediaId`, and every reply and event about it carries it: no id translation, no events that
 * beat their reply. For WHIP/WHEP it is the resource id in the session URL, so it is random enough
 * to be the URL's capability and made of URL-safe characters.
 */
export const MediaId = v.pipe(
  v.string('id must be a string'),
  v.regex(/^[A-Za-z0-9_-]{8,64}$/, 'id must be 8-64 characters: letters, digits, "_" or "-"'),
);
const Id = MediaId;

/** A fresh publish or play id: the prefix and 96 random bits, base64url (`pub_3q2-7wXyAbCdEfGh`). */
export function newMediaId(prefix: 'pub' | 'play'): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return `${prefix}_${btoa(bin).replaceAll('+', '-').replaceAll('/', '_')}`;
}

// ---------------------------------------------------------------- requests (worker -> bridge)

/**
 * `resource: true` puts a publish or play in the bridge's own keeping instead of the link's: it
 * outlives the link that created it (WHIP/WHEP sessions span many HTTP requests), any authenticated
 * link may act on it by id with `resource: true`, and its events go nowhere. It still ends on
 * unpublish/stop, hangup, ICE failure or no media, like any other.
 */
const Resource = v.optional(v.literal(true, 'resource must be true when given'));

/** Most candidates in one `trickle` request. */
export const MAX_TRICKLE_CANDIDATES = 64;

/** A client's ICE candidate, as RTCIceCandidateInit has it (`candidate:...`, without `a=`). */
export const IceCandidate = v.strictObject({
  candidate: v.pipe(
    v.string('candidate must be a string'),
    v.maxLength(512, 'candidate must be at most 512 characters'),
    v.regex(/^candidate:\S+ \d+ \S+ \d+ \S+ \d+ typ \S+/, 'candidate must be an ICE candidate attribute: "candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ..."'),
  ),
  sdpMid: v.optional(v.pipe(v.string('sdpMid must be a string'), v.maxLength(32))),
  sdpMLineIndex: v.optional(v.pipe(v.number('sdpMLineIndex must be a number'), v.integer(), v.minValue(0), v.maxValue(255))),
});
export type IceCandidate = v.InferOutput<typeof IceCandidate>;

// ---------------------------------------------------------------- cross-node work (coordinator -> agents)

/**
 * One stream of an origin publisher, as its agent reports it in a `source` event and an edge's
 * agent needs it to make the stream's copy (the remote publisher mirrors these mindexes).
 */
export const SourceStream = v.strictObject({
  type: v.picklist(['audio', 'video', 'data'], 'a stream\'s type must be audio, video or data'),
  mindex: v.pipe(v.number('a stream\'s mindex must be a number'), v.integer('a stream\'s mindex must be an integer'), v.minValue(0, 'a stream\'s mindex must be 0-255'), v.maxValue(255, 'a stream\'s mindex must be 0-255')),
  mid: v.pipe(v.string('a stream\'s mid must be a string'), v.maxLength(32, 'a stream\'s mid must be at most 32 characters')),
  codec: v.optional(v.pipe(v.string('a stream\'s codec must be a string'), v.maxLength(32, 'a stream\'s codec must be at most 32 characters'))),
  disabled: v.optional(v.boolean('a stream\'s disabled must be true or false')),
  h264_profile: v.optional(v.pipe(v.string('a stream\'s h264_profile must be a string'), v.maxLength(16, 'a stream\'s h264_profile must be at most 16 characters'))),
});
export type SourceStream = v.InferOutput<typeof SourceStream>;

/** A VideoRoom room id (the stream's, the same on every node that carries it). */
const RoomId = v.pipe(v.number('room must be a number'), v.integer('room must be an integer'), v.minValue(1, 'room must be positive'), v.maxValue(Number.MAX_SAFE_INTEGER));
const PortNumber = v.pipe(v.number('a port must be a number'), v.integer('a port must be an integer'), v.minValue(1, 'a port must be 1-65535'), v.maxValue(65535, 'a port must be 1-65535'));

/**
 * The name the coordinator gives a forward from the origin to an edge (`publish_remotely`'s remote
 * id): unique per stream, edge and attempt, so a retried forward never collides with an old one.
 */
export const ForwardId = v.pipe(v.string('forwardId must be a string'), v.regex(/^[A-Za-z0-9_-]{8,64}$/, 'forwardId must be 8-64 characters: letters, digits, "_" or "-"'));

export const RequestParams = {
  /** The node list. The asking link gets `node` events from then on; no other link does. */
  nodes: v.strictObject({}),
  /** `publishId`: the worker's name for this publish (newMediaId); a name in use is ALREADY_EXISTS. */
  publish: v.strictObject({ publishId: Id, node: NodeId, stream: StreamName, sdp: Sdp, resource: Resource }),
  /** Ends a publish, also one whose `publish` request is still running (that request then fails). */
  unpublish: v.strictObject({ publishId: Id, resource: Resource }),
  /**
   * `playId`: the worker's name for this play (newMediaId). Without `sdp` Janus offers and the
   * client answers with `answer`; with `sdp` the client offers.
   */
  play: v.strictObject({ playId: Id, node: NodeId, stream: StreamName, sdp: v.optional(Sdp), resource: Resource }),
  answer: v.strictObject({ playId: Id, sdp: Sdp }),
  /** Ends a play, also one whose `play` request is still running (that request then fails). */
  stop: v.strictObject({ playId: Id, resource: Resource }),
  /**
   * The client's trickled ICE candidates for a publish or play (`id`: its publishId or playId);
   * `ended`: the client has no more. `ufrag`: the client's ice-ufrag the candidates belong to; for a
   * resource, one that is not the session's (an ICE restart, which Fanout does not do) is refused
   * with FAILED_PRECONDITION and nothing is applied.
   */
  trickle: v.strictObject({
    id: Id,
    candidates: v.pipe(v.array(IceCandidate), v.maxLength(MAX_TRICKLE_CANDIDATES, `at most ${MAX_TRICKLE_CANDIDATES} candidates per request`)),
    ended: v.optional(v.boolean()),
    ufrag: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(256))),
    resource: Resource,
  }),
  /**
   * Takes over publishes and plays by id after a link was lost (see BRIDGE_OWNER_GRACE_MS): each id
   * the bridge still has, owned by a link (not a resource), is this link's from now on and its
   * events come here; the answer says which ids are bound and which are gone, with how they ended
   * when the bridge knows. Waits until a restarted bridge has re-adopted its nodes' state.
   */
  bind: v.strictObject({ ids: v.pipe(v.array(Id), v.maxLength(MAX_BIND_IDS, `at most ${MAX_BIND_IDS} ids per bind`)) }),
  ping: v.strictObject({}),
  /** Live streams with their nodes, viewers and bitrates, and the viewer history (the dashboard). */
  streams: v.strictObject({}),
  /** The worker's counters since its last report (see WorkerReport). */
  metrics: WorkerReport,
  /**
   * For the coordinator of cross-node work: the live streams this agent's origin publishes and the
   * copies its edges hold. The asking link gets `source` events (a stream live or ended) from then on.
   */
  sources: v.strictObject({}),
  /**
   * On an edge's agent: make the edge's copy of `stream` (its room and a remote publisher mirroring
   * the origin publisher's `streams`); players on the edge play from it. Answers where the origin
   * forwards to. A copy of that stream already there (ready) is answered again, not made twice.
   */
  relay: v.strictObject({
    node: NodeId,
    stream: StreamName,
    room: RoomId,
    streams: v.pipe(v.array(SourceStream, 'streams must be a list'), v.minLength(1, 'streams must list 1-16 streams'), v.maxLength(16, 'streams must list 1-16 streams')),
  }),
  /**
   * On an edge's agent: remove the edge's copy of `stream`; its players are told STOPPED with `info`
   * (FAILED when `failed`: the stream failed at its origin, and a player may retry it elsewhere).
   */
  unrelay: v.strictObject({ node: NodeId, stream: StreamName, info: v.optional(v.pipe(v.string(), v.maxLength(256))), failed: v.optional(v.boolean()) }),
  /** On the origin's agent: forward publish `publishId` to an edge's copy (`relay`'s answer). */
  forward: v.strictObject({
    publishId: Id,
    forwardId: ForwardId,
    edge: NodeId,
    host: v.pipe(v.string('host must be a string'), v.minLength(1, 'host must be a host name or address'), v.maxLength(253, 'host must be at most 253 characters')),
    port: PortNumber,
    rtcpPort: PortNumber,
  }),
  /** On the origin's agent: stop a forward. */
  unforward: v.strictObject({ publishId: Id, forwardId: ForwardId }),
} as const;

export type Method = keyof typeof RequestParams;

export const BridgeRequest = v.variant('method', [
  v.strictObject({ id: v.number(), method: v.literal('nodes'), params: RequestParams.nodes }),
  v.strictObject({ id: v.number(), method: v.literal('publish'), params: RequestParams.publish }),
  v.strictObject({ id: v.number(), method: v.literal('unpublish'), params: RequestParams.unpublish }),
  v.strictObject({ id: v.number(), method: v.literal('play'), params: RequestParams.play }),
  v.strictObject({ id: v.number(), method: v.literal('answer'), params: RequestParams.answer }),
  v.strictObject({ id: v.number(), method: v.literal('stop'), params: RequestParams.stop }),
  v.strictObject({ id: v.number(), method: v.literal('trickle'), params: RequestParams.trickle }),
  v.strictObject({ id: v.number(), method: v.literal('bind'), params: RequestParams.bind }),
  v.strictObject({ id: v.number(), method: v.literal('ping'), params: RequestParams.ping }),
  v.strictObject({ id: v.number(), method: v.literal('streams'), params: RequestParams.streams }),
  v.strictObject({ id: v.number(), method: v.literal('metrics'), params: RequestParams.metrics }),
  v.strictObject({ id: v.number(), method: v.literal('sources'), params: RequestParams.sources }),
  v.strictObject({ id: v.number(), method: v.literal('relay'), params: RequestParams.relay }),
  v.strictObject({ id: v.number(), method: v.literal('unrelay'), params: RequestParams.unrelay }),
  v.strictObject({ id: v.number(), method: v.literal('forward'), params: RequestParams.forward }),
  v.strictObject({ id: v.number(), method: v.literal('unforward'), params: RequestParams.unforward }),
]);
export type BridgeRequest = v.InferOutput<typeof BridgeRequest>;
export type Params<M extends Method> = v.InferOutput<(typeof RequestParams)[M]>;

// ---------------------------------------------------------------- results (bridge -> worker)

export const NodeLoad = v.object({ publishers: v.number(), subscribers: v.number() });

export const NodeInfo = v.object({
  id: v.string(),
  role: v.picklist(['origin', 'edge']),
  /** Public signalling host[:port]. */
  host: v.string(),
  up: v.boolean(),
  /** Epoch ms of the last up/down change. */
  since: v.number(),
  load: NodeLoad,
});
export type NodeInfo = v.InferOutput<typeof NodeInfo>;

export const BalancingMode = v.picklist(['ROUNDROBIN', 'FEWESTCALLS', 'RANDOM', 'LESS_LOADED_NODE']);

/** A live stream on an origin, as the coordinator needs it to relay it (`sources`, `source` events). */
export const SourceInfo = v.object({
  stream: v.string(),
  publishId: v.string(),
  node: v.string(),
  room: v.number(),
  streams: v.array(SourceStream),
  /** The forwards the origin makes for it (in `sources`; a stream that just went live has none). */
  forwards: v.optional(v.array(v.object({ forwardId: v.string(), edge: v.string() }))),
});
export type SourceInfo = v.InferOutput<typeof SourceInfo>;

export const Results = {
  nodes: v.object({ mode: BalancingMode, loadBalancing: v.boolean(), nodes: v.array(NodeInfo) }),
  publish: v.object({ sdp: Sdp }),
  unpublish: v.object({}),
  play: v.object({ sdp: Sdp, type: v.picklist(['offer', 'answer']) }),
  answer: v.object({}),
  stop: v.object({}),
  trickle: v.object({}),
  bind: v.object({
    bound: v.array(Id),
    /** `code` is UNAVAILABLE for an id the bridge lost (a setup its restart cut short): worth a retry. */
    gone: v.array(v.object({ id: Id, status: v.picklist(['UNPUBLISHED', 'STOPPED', 'FAILED']), info: v.string(), code: v.optional(v.literal('UNAVAILABLE')) })),
  }),
  ping: v.object({ time: v.number() }),
  streams: StreamsResult,
  metrics: v.object({}),
  sources: v.object({ streams: v.array(SourceInfo), relays: v.array(v.object({ node: v.string(), stream: v.string(), room: v.number() })) }),
  relay: v.object({ host: v.string(), port: v.number(), rtcpPort: v.number() }),
  unrelay: v.object({}),
  forward: v.object({}),
  unforward: v.object({}),
} as const satisfies Record<Method, v.GenericSchema>;
export type Result<M extends Method> = v.InferOutput<(typeof Results)[M]>;

export const WireErrorSchema = v.object({
  code: v.picklist(ERROR_CODE_NAMES),
  message: v.string(),
  janusCode: v.optional(v.number()),
});

// ---------------------------------------------------------------- events (bridge -> worker)

export const PublisherStatus = v.picklist(['PUBLISHING', 'UNPUBLISHED', 'FAILED']);
export const PlayerStatus = v.picklist(['PLAYING', 'STOPPED', 'FAILED']);

export const BridgeEvent = v.variant('event', [
  v.object({ event: v.literal('node'), node: NodeInfo }),
  /** Every NODE_REPORT_MS to links that asked `nodes`: the agent's whole node list, as `nodes` answers it. */
  v.object({ event: v.literal('report'), mode: BalancingMode, loadBalancing: v.boolean(), nodes: v.array(NodeInfo) }),
  v.object({
    event: v.literal('publisher'),
    publishId: Id,
    stream: v.string(),
    status: PublisherStatus,
    info: v.optional(v.string()),
  }),
  v.object({
    event: v.literal('player'),
    playId: Id,
    stream: v.string(),
    status: PlayerStatus,
    info: v.optional(v.string()),
  }),
  /** To links that asked `sources`: a stream went live on this agent's origin (relay it)... */
  v.object({ event: v.literal('source'), source: SourceInfo }),
  /**
   * ... or ended (remove its copies). `failed`: its origin node went down (rather than its publisher
   * ending): its players are told FAILED, which players retry (it may come back on another origin).
   */
  v.object({ event: v.literal('source-ended'), stream: v.string(), publishId: v.string(), node: v.string(), info: v.string(), failed: v.optional(v.boolean()) }),
  v.object({
    event: v.literal('slowlink'),
    id: Id,
    stream: v.string(),
    uplink: v.boolean(),
    lost: v.number(),
    nacksPerSecond: v.optional(v.number()),
  }),
]);
export type BridgeEvent = v.InferOutput<typeof BridgeEvent>;

export const BridgeMessage = v.union([
  v.object({ id: v.number(), result: v.unknown() }),
  v.object({ id: v.number(), error: WireErrorSchema }),
  BridgeEvent,
]);
export type BridgeMessage = v.InferOutput<typeof BridgeMessage>;

/** Constant-time string comparison for the shared secret (no early exit on the first difference). */
export function secretsEqual(a: string, b: string): boolean {
  const enc = new TextEncoder();
  const x = enc.encode(a);
  const y = enc.encode(b);
  let diff = x.length ^ y.length;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) diff |= (x[i % (x.length || 1)] ?? 0) ^ (y[i % (y.length || 1)] ?? 0);
  return diff === 0 && x.length > 0;
}
