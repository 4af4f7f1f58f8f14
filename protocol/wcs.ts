/**
 * The WCS WebSocket frames, both directions, declared once: `{"message": <name>, "data": [...]}`
 * as the official WebSDK (`@flashphoner/websdk`, src/flashphoner-core.js) sends and expects them.
 * The worker reads `ClientFrame` and builds `ServerFrame`s with `frames`; the SDK, the test
 * harness and the bench client build `ClientFrame`s and read `ServerFrame` (`readServerFrame`).
 *
 * Client -> worker: one valibot variant (`ClientFrame`). Every field the CDN uses is checked and
 * named in the error; the WebSDK's other fields are declared (so clients build them typed) and
 * read past; fields nobody declares are dropped.
 * Worker -> client: one valibot variant (`ServerFrame`); its data objects are loose (a newer
 * worker may add fields without breaking an older reader). `redirect` is Fanout's extension (the
 * origin sends players to an edge), as is a client `setRemoteSDP` (the player's answer in the
 * server-offer flow).
 * Every data object is a plain JSON object: an array (`"data": [[{...}]]`) is refused by name.
 */
import * as v from 'valibot';
import { MAX_SDP_LENGTH, Sdp, StreamName } from './api.ts';
import { ERROR_CODE_NAMES, issueText } from './errors.ts';
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

/** A JSON object proper: not an array, not null, not a class instance. */
function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/**
 * valibot's `object` takes an array as an object (its keys are just missing), so a data object
 * whose fields are all optional would accept `[{...}]`. Every frame's data object is refused
 * first unless it is a plain object, with the object's own message. A missing one (undefined)
 * goes on to the object schema, which words it "data[0] is required".
 */
const plainOrMissing = (message: string) =>
  v.custom<Record<string, unknown>>((x) => x === undefined || isPlainObject(x), message);

function dataObject<const TEntries extends v.ObjectEntries>(entries: TEntries, message: string) {
  return v.pipe(plainOrMissing(message), v.object(entries, message));
}

/** Same, keeping the fields it does not declare (server frames: a reader tolerates what a newer worker adds). */
function looseDataObject<const TEntries extends v.ObjectEntries>(entries: TEntries, message: string) {
  return v.pipe(plainOrMissing(message), v.looseObject(entries, message));
}

/**
 * A field the WebSDK sends and the CDN reads past: declared so that clients build it, not
 * checked, because the WebSDK passes the page's options through verbatim (its `record` is
 * `options.record || false`), so its type is the page's.
 */
const readPast = v.nullish(v.unknown());

// ---------------------------------------------------------------- client -> worker

const MediaProvider = v.nullish(
  v.literal('WebRTC', 'mediaProvider must be "WebRTC" (the CDN publishes and plays over WebRTC only)'),
);

export const ConnectionData = dataObject(
  {
    appKey: v.nullish(v.string('appKey must be a string')),
    clientVersion: v.nullish(v.string('clientVersion must be a string')),
    mediaProviders: v.nullish(v.array(v.string('mediaProviders must be strings'), 'mediaProviders must be an array of strings')),
    authToken: v.nullish(v.string('authToken must be a string')),
    keepAlive: v.nullish(v.boolean('keepAlive must be true or false')),
    custom: v.nullish(v.unknown()),
    clientOSVersion: readPast,
    clientBrowserVersion: readPast,
  },
  'must be an object with the connection fields',
);

/** What the WebSDK sends with every stream request besides the fields the CDN uses. */
const StreamExtras = {
  hasVideo: readPast,
  hasAudio: readPast,
  status: readPast,
  record: readPast,
  custom: readPast,
} as const;

export const PublishData = dataObject(
  {
    mediaSessionId: MediaSessionId,
    name: StreamName,
    sdp: ClientSdp,
    mediaProvider: MediaProvider,
    published: v.nullish(v.boolean('published must be true or false')),
    ...StreamExtras,
  },
  'must be an object with the stream fields (mediaSessionId, name, sdp)',
);

export const PlayData = dataObject(
  {
    mediaSessionId: MediaSessionId,
    name: StreamName,
    /** The player's offer (the WebSDK always sends one); absent in Fanout's server-offer flow. */
    sdp: v.nullish(ClientSdp),
    mediaProvider: MediaProvider,
    published: v.nullish(v.boolean('published must be true or false')),
    ...StreamExtras,
  },
  'must be an object with the stream fields (mediaSessionId, name)',
);

export const StopData = dataObject(
  {
    mediaSessionId: MediaSessionId,
    name: v.nullish(v.string('name must be a string')),
    published: v.nullish(v.boolean('published must be true or false')),
    ...StreamExtras,
  },
  'must be an object with the stream fields (mediaSessionId)',
);

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
/** A client frame: what the worker reads, and what a client (SDK, harness, bench) builds. */
export type ClientFrame = v.InferOutput<typeof ClientFrame>;
export type ClientMessage = ClientFrame['message'];
export type ConnectionData = v.InferOutput<typeof ConnectionData>;
export type PublishData = v.InferOutput<typeof PublishData>;
export type PlayData = v.InferOutput<typeof PlayData>;
export type StopData = v.InferOutput<typeof StopData>;

export const HANDLED_MESSAGES: readonly ClientMessage[] = ClientFrame.options.map((o) => o.entries.message.literal);

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

/** The envelope every frame must have before its message is looked at (both directions). */
export const Envelope = v.object({
  message: v.string('message must be a string naming the request, e.g. "publishStream"'),
  data: v.nullish(v.array(v.unknown(), 'data must be an array')),
});

// ---------------------------------------------------------------- worker -> client

/** Every stream status WCS defines (the WebSDK's src/constants.js STREAM_STATUS). */
export const WCS_STREAM_STATUSES = [
  'NEW',
  'PENDING',
  'PUBLISHING',
  'PLAYING',
  'PAUSED',
  'UNPUBLISHED',
  'STOPPED',
  'FAILED',
  'PLAYBACK_PROBLEM',
  'RESIZE',
  'SNAPSHOT_COMPLETE',
  'NOT_ENOUGH_BANDWIDTH',
] as const;
export type WcsStreamStatus = (typeof WCS_STREAM_STATUSES)[number];

/** The statuses Fanout's worker sends. */
export type StreamStatus = Extract<WcsStreamStatus, 'PUBLISHING' | 'PLAYING' | 'UNPUBLISHED' | 'STOPPED' | 'FAILED'>;

const ErrorCodeField = v.picklist(ERROR_CODE_NAMES, 'code must be one of the error table\'s codes');

export const UserData = looseDataObject(
  {
    sessionId: v.string('sessionId must be a string'),
    mediaProviders: v.array(v.string('mediaProviders must be strings'), 'mediaProviders must be an array of strings'),
    appKey: v.optional(v.string('appKey must be a string')),
    clientVersion: v.optional(v.string('clientVersion must be a string')),
    authToken: v.optional(v.string('authToken must be a string')),
    custom: v.optional(v.unknown()),
    /** The node this session is on, and its role (Fanout's). */
    node: v.optional(v.string('node must be a string')),
    role: v.optional(v.picklist(['origin', 'edge'], 'role must be "origin" or "edge"')),
  },
  'must be an object with the session fields (sessionId, mediaProviders)',
);
export type UserData = v.InferOutput<typeof UserData>;

export const StreamStatusEvent = looseDataObject(
  {
    mediaSessionId: v.string('mediaSessionId must be a string'),
    name: v.string('name must be a string'),
    published: v.boolean('published must be true or false'),
    status: v.picklist(WCS_STREAM_STATUSES, `status must be one of ${WCS_STREAM_STATUSES.join(', ')}`),
    info: v.optional(v.string('info must be a string')),
    /** Fanout's error code when the status is a failure (from the one error table). */
    code: v.optional(ErrorCodeField),
    /** Why a stream got "Restricted access" (which token rule it broke). */
    reason: v.optional(v.string('reason must be a string')),
  },
  'must be an object with the status fields (mediaSessionId, name, published, status)',
);
export type StreamStatusEvent = v.InferOutput<typeof StreamStatusEvent>;

/**
 * A `fail` frame's object: for one stream (`apiMethod: "StreamStatusEvent"` with the stream's
 * `id`; the WebSDK marks that stream FAILED), or for the session (any other `apiMethod`).
 */
export const FailInfo = looseDataObject(
  {
    apiMethod: v.string('apiMethod must be a string'),
    info: v.string('info must be a string'),
    code: ErrorCodeField,
    id: v.optional(v.string('id must be a string')),
    mediaSessionId: v.optional(v.string('mediaSessionId must be a string')),
    name: v.optional(v.string('name must be a string')),
    status: v.optional(v.literal('FAILED', 'status must be "FAILED"')),
  },
  'must be an object with the failure fields (apiMethod, info, code)',
);
export type FailInfo = v.InferOutput<typeof FailInfo>;

const Port = v.pipe(v.number('must be a port number'), v.integer('must be a port number'), v.minValue(0), v.maxValue(65_535));

export const RedirectInfo = looseDataObject(
  {
    mediaSessionId: v.string('mediaSessionId must be a string'),
    name: v.string('name must be a string'),
    node: v.string('node must be a string'),
    url: v.string('url must be a string'),
    server: v.string('server must be a string'),
    ws: Port,
    wss: Port,
  },
  'must be an object with the redirect fields (mediaSessionId, name, node, url, server, ws, wss)',
);
export type RedirectInfo = v.InferOutput<typeof RedirectInfo>;

/** Every frame the worker sends. */
export const ServerFrame = v.variant('message', [
  v.object({ message: v.literal('getUserData'), data: v.tuple([UserData], 'data must be [ {session fields} ]') }),
  v.object({ message: v.literal('setRemoteSDP'), data: v.tuple([v.string('mediaSessionId must be a string'), v.string('sdp must be a string')], 'data must be [mediaSessionId, sdp]') }),
  v.object({ message: v.literal('notifyStreamStatusEvent'), data: v.tuple([StreamStatusEvent], 'data must be [ {status fields} ]') }),
  v.object({ message: v.literal('fail'), data: v.tuple([FailInfo], 'data must be [ {failure fields} ]') }),
  v.object({ message: v.literal('redirect'), data: v.tuple([RedirectInfo], 'data must be [ {redirect fields} ]') }),
  // The WCS server's own pings carry no data; Fanout's carry [].
  v.object({ message: v.literal('ping'), data: KeepAliveData }),
  v.object({ message: v.literal('pong'), data: KeepAliveData }),
]);
export type ServerFrame = v.InferOutput<typeof ServerFrame>;
export type ServerMessage = ServerFrame['message'];

export const SERVER_MESSAGES: readonly ServerMessage[] = ServerFrame.options.map((o) => o.entries.message.literal);

export const frames = {
  userData: (d: UserData): ServerFrame => ({ message: 'getUserData', data: [d] }),
  remoteSdp: (mediaSessionId: string, sdp: string): ServerFrame => ({ message: 'setRemoteSDP', data: [mediaSessionId, sdp] }),
  status: (s: StreamStatusEvent): ServerFrame => ({ message: 'notifyStreamStatusEvent', data: [s] }),
  fail: (f: FailInfo): ServerFrame => ({ message: 'fail', data: [f] }),
  redirect: (r: RedirectInfo): ServerFrame => ({ message: 'redirect', data: [r] }),
  ping: (): ServerFrame => ({ message: 'ping', data: [] }),
  pong: (): ServerFrame => ({ message: 'pong', data: [] }),
} as const;

/** One text frame from the server, read: a checked frame, a message this contract does not know, or what is wrong with it. */
export type ServerFrameRead =
  | { kind: 'frame'; frame: ServerFrame }
  | { kind: 'unknown'; message: string }
  | { kind: 'invalid'; problem: string };

/**
 * Reads one text frame from the worker against `ServerFrame`. A well-formed frame whose message
 * the contract does not know is `unknown` (a reader may ignore it: a newer worker may send more).
 *
 * @example
 * const read = readServerFrame('{"message":"setRemoteSDP","data":["id-1","v=0..."]}');
 * if (read.kind === 'frame' && read.frame.message === 'setRemoteSDP') console.log(read.frame.data[0]);
 */
export function readServerFrame(text: string): ServerFrameRead {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: 'invalid', problem: 'the server sent a frame that is not JSON' };
  }
  const envelope = v.safeParse(Envelope, json);
  if (!envelope.success) return { kind: 'invalid', problem: `the server sent a frame that is not {"message", "data": [...]}: ${issueText(envelope.issues[0])}` };
  const { message } = envelope.output;
  if (!isServerMessage(message)) return { kind: 'unknown', message };
  const parsed = v.safeParse(ServerFrame, json);
  if (!parsed.success) return { kind: 'invalid', problem: `invalid "${message}" frame from the server: ${issueText(parsed.issues[0], 'the frame is invalid')}` };
  return { kind: 'frame', frame: parsed.output };
}

function isServerMessage(message: string): message is ServerMessage {
  return (SERVER_MESSAGES as readonly string[]).includes(message);
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
