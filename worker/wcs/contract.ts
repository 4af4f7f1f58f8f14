/**
 * What a WCS session is made of and says, apart from its state machine (./session.ts): the
 * dependencies and options it is built with (the socket, the bridge link, the balancer and the
 * clock come in, so the session runs the same under workerd and in tests), the info strings as
 * WCS and the WebSDK spell them, and the WebSocket close codes.
 */
import type { BridgeEvent, CdnError, ErrorCode, Logger, Method, NodeInfo, Params, Result, ServerFrame } from '../../protocol/index.ts';
import type { Auth } from '../auth/gate.ts';
import type { Limits } from '../limits/index.ts';

/** Info strings as WCS and the WebSDK's STREAM_STATUS_INFO spell them. */
export const INFO = {
  STREAM_NOT_FOUND: 'CDN stream not found',
  STREAM_NAME_IN_USE: 'Stream name is already in use',
  MEDIA_SESSION_ID_IN_USE: 'MediaSessionId is already in use',
  SESSION_NOT_READY: 'Session not ready: send "connection" first',
  FAILED_BY_ERROR: 'Failed by error',
  BRIDGE_LOST: 'Failed by error: the connection to the bridge was lost',
  BRIDGE_LOST_SESSION: 'The connection to the bridge was lost: the streams of this session ended; new requests reconnect',
  /** WCS's wording for a stream refused for want of rights (a missing, invalid or wrong token). */
  RESTRICTED_ACCESS: 'Restricted access',
} as const;

/**
 * The info of a FAILED the client may retry (its node's agent away, lost or slow) names the node,
 * so a client (or its operator) knows which node to wait for or avoid.
 */
export function namingNode(info: string, code: ErrorCode, node: string | undefined): string {
  if ((code !== 'UNAVAILABLE' && code !== 'TIMEOUT') || node === undefined || info.includes(`"${node}"`)) return info;
  return `${info} (node "${node}")`;
}

/** WebSocket close codes the worker uses (4000-4999 are the application's). */
export const CLOSE_CODES = {
  NORMAL: 1000,
  PING_TIMEOUT: 4408,
  /** The client sent more frames per second than WCS_MAX_MESSAGES_PER_SECOND. */
  TOO_MANY_MESSAGES: 4429,
} as const;

/** The WCS-like info for a bridge error on a publish or play. */
export function infoFor(err: CdnError, kind: 'publish' | 'play'): string {
  switch (err.code) {
    case 'ALREADY_EXISTS':
      return INFO.STREAM_NAME_IN_USE;
    case 'NOT_FOUND':
      return kind === 'play' ? INFO.STREAM_NOT_FOUND : `${INFO.FAILED_BY_ERROR}: ${err.message}`;
    default:
      return `${INFO.FAILED_BY_ERROR}: ${err.message}`;
  }
}

/** The session's bridge link (a BridgeClient). */
export interface BridgeLink {
  request<M extends Method>(method: M, params: Params<M>, timeoutMs?: number): Promise<Result<M>>;
  close(reason?: string): void;
  /** Gives up a link that stopped answering, without releasing what it owns (a new link binds it). */
  abandon(reason: string): void;
  readonly closed: boolean;
}

export interface BridgeHandlers {
  onEvent(event: BridgeEvent): void;
  onClose(reason: CdnError): void;
}

/** Where a player on the origin is sent. */
export type EdgeRedirect =
  | { ok: true; node: NodeInfo; url: string; server: string; ws: number; wss: number }
  | { ok: false; code: ErrorCode; reason: string };

export type PublishPlace = { ok: true; here: true } | ({ here: false } & EdgeRedirect);

export interface PublishLock {
  /** Takes the name for `publishId` on `node`, or rejects with the CdnError saying why not. */
  claim(stream: string, node: string, publishId: string): Promise<void>;
  /** Frees the name if `publishId` holds it (best effort, never throws). */
  release(stream: string, publishId: string): void;
}

export interface SessionDeps {
  /** Sends a frame to the client (JSON text). */
  send(frame: ServerFrame): void;
  /** Closes the client's socket. */
  close(code: number, reason: string): void;
  /** Opens this session's own bridge link. */
  openBridge(handlers: BridgeHandlers): Promise<BridgeLink>;
  /** Chooses the edge for a player that asked the origin (`pinned`: the node its token names). */
  chooseEdge(stream: string, pinned?: string): Promise<EdgeRedirect>;
  /**
   * Where a publish asked on `node` (this session's) runs: `here` (an origin that is up), or the
   * origin it is placed on (asked at an edge, or at an origin that is down; `pinned`: the node the
   * publish token names, which must be an origin).
   */
  placePublish(stream: string, node: NodeInfo, pinned?: string): Promise<PublishPlace>;
  /** The CDN-wide publish lock (several origins); absent: the origin's agent refuses a name in use itself. */
  publishLock?: PublishLock;
  now(): number;
  log?: Logger;
}

export interface SessionOptions {
  sessionId: string;
  /** The node this session is for; undefined when the node list could not be had (see nodeError). */
  node: NodeInfo | undefined;
  /** Why the node is unknown (the bridge is unreachable, the secret is missing, ...). */
  nodeError?: { code: ErrorCode; message: string };
  /** Players on the origin are sent to an edge (load_balancing_enabled). */
  loadBalancing: boolean;
  /** A session silent (no frame at all) for longer than this is closed by `tick`. */
  pingTimeoutMs: number;
  /** Overrides limits.maxStreamsPerSession. */
  maxStreams?: number;
  /** Token checks (worker/auth's Auth); absent or not `required`: everything is allowed. */
  auth?: Auth;
  /** Limits; DEFAULT_LIMITS for those not given. */
  limits?: Partial<Limits>;
  /** How long a lost bridge link is re-tried and its streams re-bound (default BRIDGE_RELINK_WINDOW_MS). */
  relinkWindowMs?: number;
}
