/** The WCS WebSocket API: frame schemas, the runtime-free session and its workerd adapter. */
export { acceptWcsSocket, type WcsSocketOptions } from './adapter.ts';
export {
  ClientFrame,
  HANDLED_MESSAGES,
  MAX_FRAME_BYTES,
  MAX_FRAME_SDP_BYTES,
  MAX_MEDIA_SESSION_ID_LENGTH,
  MAX_STREAMS_PER_SESSION,
  UNSUPPORTED_MESSAGES,
  frames,
  type ServerFrame,
  type StreamStatusEvent,
} from '../../protocol/wcs.ts';
export { CLOSE_CODES, INFO, WcsSession, infoFor, type BridgeLink, type EdgeRedirect, type SessionDeps, type SessionOptions } from './session.ts';
