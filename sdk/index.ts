/**
 * Fanout's browser SDK: the Flashphoner WebSDK's session/stream API over the WCS WebSocket
 * protocol, for publishing to a Fanout origin and playing from its edges.
 *
 * @example
 * import { createSession, SESSION_STATUS, STREAM_STATUS } from 'fanout-sdk';
 *
 * createSession({ urlServer: 'wss://origin.cdn.example.com/' }).on(SESSION_STATUS.ESTABLISHED, (session) => {
 *   session.createStream({ name: 'cam1', display: document.getElementById('local')! })
 *     .on(STREAM_STATUS.PUBLISHING, () => console.log('live'))
 *     .publish();
 * });
 */
export { SESSION_STATUS, STREAM_STATUS, type SessionStatus, type StreamStatus } from './constants.ts';
export { createSession, Session, type SessionOptions, type SessionEventMap, type DisconnectInfo } from './session.ts';
export { Stream, type StreamOptions, type StreamEventMap } from './stream.ts';
export type { ReplayOptions } from './retry.ts';
export type { BandwidthReport, BandwidthMonitorOptions } from './bandwidth.ts';
export type { Listener } from './emitter.ts';

/** The SDK's version, sent as nothing on the wire (the protocol's clientVersion is "2.0"). */
export const VERSION = '0.1.0';
