/** WHIP ingest and WHEP playback: the runtime-free protocol (./handler.ts) and its workerd routes. */
export { whipWhepRoutes } from './adapter.ts';
export { SDP_TYPE, SDPFRAG_TYPE, etagOf, handleWhipWhep, ifMatch, optionsHeaders, type EdgePick, type NodesView, type Protocol, type Route, type WhipDeps } from './handler.ts';
export { IceServer, IceServersVar, MAX_ICE_URLS, iceServerLinks } from './ice-servers.ts';
export { MAX_SDPFRAG_LENGTH, parseTrickleFragment, type TrickleFragment } from './sdpfrag.ts';
