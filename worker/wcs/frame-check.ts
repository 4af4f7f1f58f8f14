/**
 * The checks every client text frame passes before the session's state machine sees it, in the
 * order that keeps hostile input cheap: size (before anything is parsed), nesting depth (before
 * JSON.parse builds anything), JSON, the `{message, data}` envelope, whether the CDN does the
 * message at all, the message's own schema (protocol/wcs.ts), and the SDP size limit.
 * Runtime-free and stateless: it says what is wrong; the session decides whom to tell.
 */
import * as v from 'valibot';
import {
  ClientFrame,
  Envelope,
  errorText,
  exceedsBytes,
  exceedsDepth,
  HANDLED_MESSAGES,
  issueText,
  MediaSessionId,
  UNSUPPORTED_MESSAGES,
  type ClientMessage,
  type ErrorCode,
} from '../../protocol/index.ts';
import type { Limits } from '../limits/index.ts';

/** Longest piece of a client's own text (a message name) repeated in an error. */
const MAX_ECHO = 64;

/**
 * A frame that cannot be served. `stream`: the frame is a message the CDN handles and `data0` is
 * its first data item (for a publishStream/playStream, the stream it would have started can be
 * failed instead of the session); absent, the problem is the session's.
 */
export interface FrameProblem {
  ok: false;
  apiMethod: string;
  code: ErrorCode;
  info: string;
  stream?: { message: ClientMessage; data0: unknown };
}

export type FrameCheck = { ok: true; frame: ClientFrame } | FrameProblem;

type FrameLimits = Pick<Limits, 'maxFrameBytes' | 'maxFrameDepth' | 'maxSdpBytes'>;

const problem = (apiMethod: string, info: string): FrameProblem => ({ ok: false, apiMethod, code: 'INVALID_ARGUMENT', info });

/** Checks one text frame against `limits` and the WCS schemas. */
export function checkFrame(text: string, limits: FrameLimits): FrameCheck {
  const oversize = exceedsBytes(text, limits.maxFrameBytes);
  if (oversize !== undefined) return problem('frame', `the frame is ${oversize} bytes; the limit is ${limits.maxFrameBytes} bytes`);
  if (exceedsDepth(text, limits.maxFrameDepth)) return problem('frame', `the frame nests arrays/objects deeper than ${limits.maxFrameDepth} levels`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return problem('frame', `the frame is not valid JSON (${errorText(err)})`);
  }
  const envelope = v.safeParse(Envelope, json);
  if (!envelope.success) return problem('frame', `the frame must be {"message": <name>, "data": [...]}: ${issueText(envelope.issues[0], 'the frame is invalid')}`);
  const message = envelope.output.message;
  const unsupported = Object.hasOwn(UNSUPPORTED_MESSAGES, message) ? UNSUPPORTED_MESSAGES[message] : undefined;
  if (unsupported !== undefined) {
    return problem(message, `"${message}" is not supported by the CDN (no ${unsupported}); it publishes and plays WebRTC streams only`);
  }
  if (!isHandled(message)) {
    const name = echo(message);
    return problem(name, `unknown message "${name}"; the CDN understands ${HANDLED_MESSAGES.join(', ')}`);
  }
  const stream = { message, data0: envelope.output.data?.[0] };
  const parsed = v.safeParse(ClientFrame, json);
  if (!parsed.success) return { ...problem(message, `${message}: ${issueText(parsed.issues[0], 'the frame is invalid')}`), stream };
  const sdp = sdpOf(parsed.output);
  const sdpBytes = sdp === undefined ? undefined : exceedsBytes(sdp.text, limits.maxSdpBytes);
  if (sdp !== undefined && sdpBytes !== undefined) {
    return { ...problem(message, `${message}: ${sdp.path}: the SDP is ${sdpBytes} bytes; the limit is ${limits.maxSdpBytes} bytes`), stream };
  }
  return { ok: true, frame: parsed.output };
}

/**
 * The stream a rejected frame would have started: a publishStream/playStream with a well-formed
 * mediaSessionId (its name cut to 256 characters). The session fails that stream, when the id is
 * not one it already holds, so the SDK releases it; otherwise the session gets the `fail`.
 */
export function streamOf(problem: FrameProblem): { id: string; name: string } | undefined {
  const stream = problem.stream;
  if (stream === undefined || (stream.message !== 'publishStream' && stream.message !== 'playStream')) return undefined;
  const id = field(stream.data0, 'mediaSessionId');
  if (!v.is(MediaSessionId, id)) return undefined;
  const name = field(stream.data0, 'name');
  return { id, name: typeof name === 'string' ? name.slice(0, 256) : '' };
}

function field(obj: unknown, key: string): unknown {
  return typeof obj === 'object' && obj !== null && key in obj ? Reflect.get(obj, key) : undefined;
}

/** The `fail` text for a binary frame (the API is JSON text). */
export function binaryFrameInfo(byteLength: number | undefined): string {
  const size = byteLength === undefined ? '' : ` (got ${byteLength} bytes)`;
  return `binary frames are not accepted${size}; send JSON text frames`;
}

function isHandled(message: string): message is ClientMessage {
  return HANDLED_MESSAGES.some((m) => m === message);
}

/** A client's text, cut to MAX_ECHO characters, for repeating it in an error. */
function echo(text: string): string {
  return text.length <= MAX_ECHO ? text : `${text.slice(0, MAX_ECHO)}...`;
}

/** The SDP a frame carries and where, for the size limit. */
function sdpOf(frame: ClientFrame): { text: string; path: string } | undefined {
  switch (frame.message) {
    case 'publishStream':
      return { text: frame.data[0].sdp, path: 'data[0].sdp' };
    case 'playStream':
      return typeof frame.data[0].sdp === 'string' ? { text: frame.data[0].sdp, path: 'data[0].sdp' } : undefined;
    case 'setRemoteSDP':
      return { text: frame.data[1], path: 'data[1]' };
    default:
      return undefined;
  }
}
