/**
 * The media layer's own named errors: each message has one home. Errors every side shares
 * (a stream not published, an id in use, an unknown publish or play) are protocol's `Errors`.
 */
import { CdnError } from '../../protocol/index.ts';

export const MediaErrors = {
  shuttingDown: () => new CdnError('UNAVAILABLE', 'the bridge is shutting down'),
  publishOnEdge: (origins: readonly string[], edge: string) =>
    new CdnError(
      'FAILED_PRECONDITION',
      `publishing is accepted only on ${origins.length === 1 ? 'the origin' : 'the origins'} (${origins.map((o) => `"${o}"`).join(', ')}), not on edge "${edge}"`,
    ),
  /** The requester ended its own publish or play (unpublish, stop, its link closing) while the request ran. */
  endedBeforeStart: (kind: 'publish' | 'play', id: string) => new CdnError('FAILED_PRECONDITION', `${kind} "${id}" was ended before it started`),
  /** The stream, or a node under it, ended or changed while a publish ran. */
  publishEnded: (stream: string) => new CdnError('UNAVAILABLE', `stream "${stream}" ended while it was being published`),
  playEnded: (stream: string) => new CdnError('UNAVAILABLE', `play of "${stream}" ended while it was starting`),
  streamEndedWhileJoining: (stream: string) => new CdnError('NOT_FOUND', `stream "${stream}" is not published (it ended while the player was joining)`),
  noUsableMedia: (audio: string, video: string) =>
    new CdnError('INVALID_ARGUMENT', `sdp: the offer has no audio or video Janus can take (audio: ${audio}; video: ${video})`),
  relayChanged: (edge: string) => new CdnError('UNAVAILABLE', `the stream ended or a node changed while relaying to ${edge}`),
  mountChanged: (node: string) => new CdnError('UNAVAILABLE', `the stream ended or ${node} changed while its mountpoint was made`),
  publisherNotConnected: (stream: string) => new CdnError('UNAVAILABLE', `the publisher of "${stream}" is not connected yet; try again shortly`),
  notRelayed: (stream: string, node: string) =>
    new CdnError('UNAVAILABLE', `stream "${stream}" is not relayed to ${node} (the node is down or the relay failed); try again shortly`),
  stillRelaying: (stream: string, node: string, ms: number) => new CdnError('TIMEOUT', `stream "${stream}" is still being relayed to ${node} after ${ms} ms`),
  relayFailed: (stream: string, node: string, why: string) => new CdnError('UNAVAILABLE', `stream "${stream}" could not be relayed to ${node}: ${why}`),
  notWaitingForAnswer: (playId: string) => new CdnError('FAILED_PRECONDITION', `play "${playId}" is not waiting for an answer`),
  ended: (id: string) => new CdnError('NOT_FOUND', `"${id}" has ended`),
  idNotFound: (id: string) => new CdnError('NOT_FOUND', `no publish or play with id "${id}"`),
  cannotTrickle: () => new CdnError('INTERNAL', 'the Janus handle cannot trickle'),
} as const;
