/**
 * The WCS WebSocket frames as the official WebSDK (`@flashphoner/websdk`, src/flashphoner-core.js)
 * sends and expects them: `{"message": <name>, "data": [...]}` both ways.
 *
 * Client -> worker: one valibot variant (`ClientFrame`) over the messages the CDN handles. Data
 * objects are read leniently (the SDK sends many fields the CDN does not use; unknown ones are
 * dropped), but every field the CDN uses is checked and named in the error.
 * Worker -> client: typed builders; `redirect` is Fanout's extension (the origin sends players to
 * an edge), as is a client `setRemoteSDP` (the player's answer in the server-offer flow).
 */
import * as v from 'valibot';
import { MAX_SDP_LENGTH, Sdp, StreamName } from './api.ts';
import type { ErrorCode } from './errors.ts';
import { sdpProblem } from './sdp.ts';

/** Largest SDP accepted in a frame (bytes); the bridge's limit. */
export const MAX_FRAME_SDP_BYTES = MAX_SDP_LENGTH;
/** Longest mediaSessionId accepted (the WebSDK uses 36-character UUIDs). */
export const MAX_MEDIA_SESSION_ID_LENGTH = 128;

export const MediaSessionId = v.pipe(
  v.string('mediaSessionId must be a string'),
  v.minLength(1, 'mediaSessionId must not be empty'),
  v.maxLength(MAX_MEDIA_SESSION_ID_LENGTH, `mediaSessionId must be at most ${MAX_MEDIA_SESSION_ID_LENGTH} characters`),
);

/** A client's SDP: the bridge's rules plus a line-level sanity check (./sdp.ts). */
export const ClientSdp = v.pipe(
  Sdp,
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = sdpProblem(dataset.value);
    if (problem !== undefined) addIssue({ message: `sdp is not a valid session description: ${problem}` });
  }),
);

const MediaProvider = v.nullish(
  v.literal('WebRTC', 'mediaProvider must be "WebRTC" (the CDN publishes and plays over WebRTC only)'),
);

export const ConnectionData = v.object({
  appKey: v.nullish(v.string('appKey must be a string')),
  clientVersion: v.nullish(v.string('clientVersion must be a string')),
  mediaProviders: v.nullish(v.array(v.string('mediaProviders must be strings'), 'mediaProviders must be an array of strings')),
  authToken: v.nullish(v.string('authToken must be a string')),
  keepAlive: v.nullish(v.boolean('keepAlive must be true or false')),
  custom: v.nullish(v.unknown()),
}, 'must be an object with the connection fields');

export const PublishData = v.object({
  mediaSessionId: MediaSessionId,
  name: StreamName,
  sdp: ClientSdp,
  mediaProvider: MediaProvider,
  published: v.nullish(v.boolean('published must be true or false')),
}, 'must be an object with the stream fields (mediaSessionId, name, sdp)');

export const PlayData = v.object({
  mediaSessionId: MediaSessionId,
  name: StreamName,
  /** The player's offer (the WebSDK always sends one); absent in Fanout's server-offer flow. */
  sdp: v.nullish(ClientSdp),
  mediaProvider: MediaProvider,
  published: v.nullish(v.boolean('published must be true or false')),
}, 'must be an object with the stream fields (mediaSessionId, name)');

export const StopData = v.object({
  mediaSessionId: MediaSessionId,
  name: v.nullish(v.string('name must be a string')),
}, 'must be an object with the stream fields (mediaSessionId)');

const KeepAliveData = v.nullish(v.array(v.unknown(), 'data must be an array'));

/** Every client frame the CDN handles. */
export const ClientFrame = v.variant('message', [
  v.object({ message: v.literal('connection'), data: v.looseTuple([ConnectionData], 'data must be [ {connection fields} ]') }),
  v.object({ message: v.literal('publishStream'), data: v.looseTuple([PublishData], 'data must be [ {stream fields} ]') }),
  v.object({ message: v.literal('playStream'), data: v.looseTuple([PlayData], 'data must be [ {stream fields} ]') }),
  v.object({ message: v.literal('unPublishStream'), data: v.looseTuple([StopData], 'data must be [ {mediaSessionId, name} ]') }),
  v.object({ message: v.literal('stopStream'), data: v.looseTuple([StopData], 'data must be [ {mediaSessionId, name} ]') }),
  v.object({ message: v.literal('setRemoteSDP'), data: v.looseTuple([MediaSessionId, ClientSdp], 'data must be [mediaSessionId, sdp]') }),
  v.object({ message: v.literal('ping'), data: KeepAliveData }),
  v.object({ message: v.literal('pong'), data: KeepAliveData }),
]);
export type ClientFrame = v.InferOutput<typeof ClientFrame>;
export type ClientMessage = ClientFrame['message'];

export const HANDLED_MESSAGES: readonly ClientMessage[] = [
  'connection',
  'publishStream',
  'playStream',
  'unPublishStream',
  'stopStream',
  'setRemoteSDP',
  'ping',
  'pong',
];

/** WCS messages the CDN does not do, with what they are (for the `fail` text). */
export const UNSUPPORTED_MESSAGES: Readonly<Record<string, string>> = {
  call: 'SIP calls',
  answer: 'SIP calls',
  hangup: 'SIP calls',
  hold: 'SIP calls',
  unhold: 'SIP calls',
  transfer: 'SIP calls',
  sendDtmf: 'SIP calls',
  sendData: 'REST application data',
  availableStream: 'stream availability checks',
  snapshot: 'snapshots',
  sendStreamEvent: 'stream events',
  submitBugReport: 'bug reports',
  sessionDebug: 'session debugging',
};

/** The envelope every frame must have before its message is looked at. */
export const Envelope = v.object({
  message: v.string('message must be a string naming the request, e.g. "publishStream"'),
  data: v.nullish(v.array(v.unknown(), 'data must be an array')),
});

// ---------------------------------------------------------------- worker -> client

export type StreamStatus = 'PUBLISHING' | 'PLAYING' | 'UNPUBLISHED' | 'STOPPED' | 'FAILED';

export interface StreamStatusEvent {
  mediaSessionId: string;
  name: string;
  published: boolean;
  status: StreamStatus;
  info?: string;
  /** Fanout's error code when the status is a failure (from the one error table). */
  code?: ErrorCode;
  /** Why a stream got "Restricted access" (which token rule it broke). */
  reason?: string;
}

export interface UserData {
  sessionId: string;
  mediaProviders: string[];
  appKey?: string;
  clientVersion?: string;
  authToken?: string;
  custom?: unknown;
  node?: string;
  role?: 'origin' | 'edge';
}

/** A `fail` frame: for one stream (`apiMethod: "StreamStatusEvent"`, the SDK marks it FAILED) or the session. */
export type FailInfo =
  | { apiMethod: 'StreamStatusEvent'; id: string; mediaSessionId: string; name: string; status: 'FAILED'; info: string; code: ErrorCode }
  | { apiMethod: string; info: string; code: ErrorCode };

export interface RedirectInfo {
  mediaSessionId: string;
  name: string;
  node: string;
  url: string;
  server: string;
  ws: number;
  wss: number;
}

export type ServerFrame =
  | { message: 'getUserData'; data: [UserData] }
  | { message: 'setRemoteSDP'; data: [string, string] }
  | { message: 'notifyStreamStatusEvent'; data: [StreamStatusEvent] }
  | { message: 'fail'; data: [FailInfo] }
  | { message: 'redirect'; data: [RedirectInfo] }
  | { message: 'ping'; data: [] }
  | { message: 'pong'; data: [] };

export const frames = {
  userData: (d: UserData): ServerFrame => ({ message: 'getUserData', data: [d] }),
  remoteSdp: (mediaSessionId: string, sdp: string): ServerFrame => ({ message: 'setRemoteSDP', data: [mediaSessionId, sdp] }),
  status: (s: StreamStatusEvent): ServerFrame => ({ message: 'notifyStreamStatusEvent', data: [s] }),
  fail: (f: FailInfo): ServerFrame => ({ message: 'fail', data: [f] }),
  redirect: (r: RedirectInfo): ServerFrame => ({ message: 'redirect', data: [r] }),
  ping: (): ServerFrame => ({ message: 'ping', data: [] }),
  pong: (): ServerFrame => ({ message: 'pong', data: [] }),
} as const;

/** A valibot issue with its path in the frame's own terms: `data[0].name: <rule>`. */
export function describeFrameIssue(issue: v.BaseIssue<unknown> | undefined): string {
  if (issue === undefined) return 'the frame is invalid';
  const path = (issue.path ?? []).reduce<string>((acc, p) => {
    const key = p.key;
    return typeof key === 'number' ? `${acc}[${key}]` : acc === '' ? String(key) : `${acc}.${String(key)}`;
  }, '');
  if (issue.kind === 'schema' && issue.type === 'object' && issue.received === 'undefined' && path !== '') {
    return `${path} is required`;
  }
  if (issue.kind === 'schema' && (issue.type === 'loose_tuple' || issue.type === 'tuple') && issue.received === 'undefined' && path !== '') {
    return `${path} is required`;
  }
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}

/**
 * Whether the JSON text nests arrays/objects deeper than `limit` (brackets inside strings do not
 * count). Checked before JSON.parse, so a hostile frame never builds a deep structure that a later
 * JSON.stringify (the getUserData echo) would overflow the stack on.
 */
export function exceedsDepth(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** UTF-8 length of `text`, computed only when it could exceed `limit`. */
export function exceedsBytes(text: string, limit: number): number | undefined {
  if (text.length * 3 <= limit) return undefined;
  const bytes = new TextEncoder().encode(text).byteLength;
  return bytes > limit ? bytes : undefined;
}
