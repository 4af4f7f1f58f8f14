/** The WCS WebSocket API: the runtime-free session (its frame checks, token gate and link) and its workerd adapter. */
export { acceptWcsSocket, type WcsSocketOptions } from './adapter.ts';
export { CLOSE_CODES, INFO, WcsSession, infoFor, type BridgeLink, type EdgeRedirect, type SessionDeps, type SessionOptions } from './session.ts';
export { checkFrame, type FrameCheck, type FrameProblem } from './frame-check.ts';
