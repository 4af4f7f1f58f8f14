/**
 * The contracts Fanout's parts share, and nothing else: every side (worker, bridge, SDK, tests,
 * bench) imports them from here, and none imports another side. Pure: valibot and the language,
 * no runtime imports, so it runs the same under Node, workerd and the browser.
 *
 *   api.ts      the worker <-> bridge API (requests, results, events)
 *   status.ts   its operations part (worker counters, the dashboard's streams)
 *   errors.ts   the one error table (codes, HTTP statuses, retryability) and the named errors
 *   wcs.ts      the WCS WebSocket frames, both directions, as the WebSDK speaks them
 *   sdp.ts      the line-level sanity check of a client's SDP
 *   log.ts      the one logger interface, and the redaction every logger applies
 */
export * from './api.ts';
export * from './credentials.ts';
export * from './errors.ts';
export * from './log.ts';
export * from './sdp.ts';
export * from './status.ts';
export * from './wcs.ts';
