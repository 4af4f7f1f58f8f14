/**
 * The WCS WebSocket protocol as the SDK speaks it: every frame is `{"message", "data": [...]}`.
 * Server frames are validated here with valibot, so the rest of the SDK only ever sees typed,
 * checked values; client frames are built here from typed arguments.
 */
import * as v from 'valibot';

const Text = v.string();
const Port = v.union([v.number(), v.pipe(v.string(), v.regex(/^\d{1,5}$/))]);

const Envelope = v.object({
  message: v.pipe(v.string(), v.minLength(1)),
  data: v.optional(v.nullable(v.array(v.unknown()))),
});

const StatusEvent = v.looseObject({
  mediaSessionId: Text,
  name: v.optional(v.nullable(Text)),
  status: Text,
  info: v.optional(v.nullable(Text)),
});

const RedirectEvent = v.looseObject({
  mediaSessionId: Text,
  name: v.optional(v.nullable(Text)),
  url: v.optional(v.nullable(Text)),
  server: v.optional(v.nullable(Text)),
  ws: v.optional(v.nullable(Port)),
  wss: v.optional(v.nullable(Port)),
});

const FailEvent = v.looseObject({
  apiMethod: v.optional(v.nullable(Text)),
  id: v.optional(v.nullable(Text)),
  status: v.optional(v.nullable(Text)),
  info: v.optional(v.nullable(Text)),
});

const Schemas = {
  getUserData: v.looseTuple([v.optional(v.unknown())]),
  setRemoteSDP: v.looseTuple([Text, Text]),
  notifyStreamStatusEvent: v.looseTuple([StatusEvent]),
  redirect: v.looseTuple([RedirectEvent]),
  fail: v.looseTuple([v.optional(v.union([FailEvent, Text]))]),
  ping: v.array(v.unknown()),
} as const;

export type StatusFrame = v.InferOutput<typeof StatusEvent>;
export type RedirectFrame = v.InferOutput<typeof RedirectEvent>;

/** A server frame, checked. `unknown` frames are ones this SDK does not use; they are ignored. */
export type ServerFrame =
  | { message: 'getUserData' }
  | { message: 'setRemoteSDP'; mediaSessionId: string; sdp: string }
  | { message: 'notifyStreamStatusEvent'; event: StatusFrame }
  | { message: 'redirect'; event: RedirectFrame }
  | { message: 'fail'; id: string | undefined; status: string | undefined; info: string }
  | { message: 'ping' }
  | { message: 'unknown'; name: string };

/** A frame that failed validation: `problem` names the message and the field. */
export interface InvalidFrame {
  message: 'invalid';
  problem: string;
}

function problemOf(name: string, issues: readonly v.BaseIssue<unknown>[]): string {
  const issue = issues[0];
  const path = issue?.path?.map((p) => String(p.key)).join('.') ?? '';
  return `invalid "${name}" frame from the server${path === '' ? '' : ` at data.${path}`}: ${issue?.message ?? 'unknown problem'}`;
}

/**
 * Parses one text frame from the server.
 *
 * @example
 * const frame = parseServerFrame('{"message":"setRemoteSDP","data":["id-1","v=0..."]}');
 * if (frame.message === 'setRemoteSDP') console.log(frame.mediaSessionId);
 */
export function parseServerFrame(text: string): ServerFrame | InvalidFrame {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { message: 'invalid', problem: 'the server sent a frame that is not JSON' };
  }
  const env = v.safeParse(Envelope, json);
  if (!env.success) return { message: 'invalid', problem: problemOf('?', env.issues) };
  const { message } = env.output;
  const data = env.output.data ?? [];
  switch (message) {
    case 'getUserData': {
      const r = v.safeParse(Schemas.getUserData, data);
      return r.success ? { message } : { message: 'invalid', problem: problemOf(message, r.issues) };
    }
    case 'setRemoteSDP': {
      const r = v.safeParse(Schemas.setRemoteSDP, data);
      if (!r.success) return { message: 'invalid', problem: problemOf(message, r.issues) };
      return { message, mediaSessionId: r.output[0], sdp: r.output[1] };
    }
    case 'notifyStreamStatusEvent': {
      const r = v.safeParse(Schemas.notifyStreamStatusEvent, data);
      return r.success ? { message, event: r.output[0] } : { message: 'invalid', problem: problemOf(message, r.issues) };
    }
    case 'redirect': {
      const r = v.safeParse(Schemas.redirect, data);
      return r.success ? { message, event: r.output[0] } : { message: 'invalid', problem: problemOf(message, r.issues) };
    }
    case 'fail': {
      const r = v.safeParse(Schemas.fail, data);
      if (!r.success) return { message: 'invalid', problem: problemOf(message, r.issues) };
      const f = r.output[0];
      if (f === undefined) return { message, id: undefined, status: undefined, info: 'the server reported a failure' };
      if (typeof f === 'string') return { message, id: undefined, status: undefined, info: f };
      return { message, id: f.id ?? undefined, status: f.status ?? undefined, info: f.info ?? `${f.apiMethod ?? 'a request'} failed` };
    }
    case 'ping':
      return { message };
    default:
      return { message: 'unknown', name: message };
  }
}

// ---------------------------------------------------------------- client frames

/** What the client sends in its `connection` frame. */
export interface ConnectionParams {
  appKey: string;
  mediaProviders: string[];
  keepAlive: boolean;
  clientVersion: string;
  clientOSVersion: string;
  clientBrowserVersion: string;
  authToken?: string;
  custom?: Record<string, unknown>;
}

export interface StreamFrame {
  mediaSessionId: string;
  name: string;
  published: boolean;
  hasVideo: boolean;
  hasAudio: boolean;
  status: 'PENDING';
  record: boolean;
  mediaProvider: 'WebRTC';
  sdp?: string;
  custom?: Record<string, unknown>;
}

export type ClientFrame =
  | { message: 'connection'; data: [ConnectionParams] }
  | { message: 'publishStream'; data: [StreamFrame] }
  | { message: 'playStream'; data: [StreamFrame] }
  | { message: 'setRemoteSDP'; data: [mediaSessionId: string, sdp: string] }
  | { message: 'unPublishStream'; data: [{ mediaSessionId: string; name: string; published: true }] }
  | { message: 'stopStream'; data: [{ mediaSessionId: string; name: string; published: false }] }
  | { message: 'pong'; data: [] };

/**
 * Serialises a client frame.
 *
 * @example
 * socket.send(encodeClientFrame({ message: 'pong', data: [] }));
 */
export function encodeClientFrame(frame: ClientFrame): string {
  return JSON.stringify(frame);
}
