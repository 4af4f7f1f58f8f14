/**
 * The WCS WebSocket frames as the SDK uses them. The frames themselves are declared once, in
 * protocol/wcs.ts, shared with the worker that sends and reads them: server frames are checked
 * against its `ServerFrame` schemas, so the rest of the SDK only ever sees typed, checked values;
 * client frames are built as its `ClientFrame` type.
 */
import { readServerFrame, type ClientFrame, type ConnectionData, type RedirectInfo, type ServerFrame, type StreamStatusEvent } from '../protocol/wcs.ts';

export type { ClientFrame, ServerFrame };
/** What the client sends in its `connection` frame. */
export type ConnectionParams = ConnectionData;
export type StatusFrame = StreamStatusEvent;
export type RedirectFrame = RedirectInfo;

/** A frame the SDK acts on: every server frame but the ones its connection answers itself. */
export type StreamFrame = Exclude<ServerFrame, { message: 'getUserData' | 'ping' | 'pong' }>;

/**
 * One text frame from the server: a checked frame, `unknown` for a message this SDK does not
 * know (a newer server may send more; it is ignored), or `invalid` with the message and the
 * field at fault.
 *
 * @example
 * const read = parseServerFrame('{"message":"setRemoteSDP","data":["id-1","v=0..."]}');
 * if (read.kind === 'frame' && read.frame.message === 'setRemoteSDP') console.log(read.frame.data[0]);
 */
export const parseServerFrame = readServerFrame;

/**
 * Serialises a client frame.
 *
 * @example
 * socket.send(encodeClientFrame({ message: 'pong', data: [] }));
 */
export function encodeClientFrame(frame: ClientFrame): string {
  return JSON.stringify(frame);
}
