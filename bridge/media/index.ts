/**
 * The bridge's media layer: publish on the origin, cascade to every edge, play on any node, and
 * tear it all down. One entity per file, each owning its Janus state and an idempotent `close()`:
 *
 *   controller.ts  the registry (ids, names) and the worker API's media requests
 *   stream.ts      a published stream: its origin publisher and everything hung on it
 *   cascade.ts     one edge's copy of a stream (remote publisher + publish_remotely)
 *   mount.ts       a Streaming mountpoint on a node and the forwarders that feed it
 *   player.ts      one viewer's Streaming handle on a mountpoint
 *   sweep.ts       removal of rooms and mountpoints no stream uses, when a node comes up
 *   context.ts     the nodes as the media layer sees them, options, shared services
 *   plan.ts        the pure parts (remote-publisher streams, room ids, the serial queue)
 */
import { MediaController, type Media } from './controller.ts';
import type { MediaOptions } from './context.ts';

export { DEFAULT_NO_MEDIA_TIMEOUT_MS } from './context.ts';
export type { MediaNode, MediaNodes, MediaOptions } from './context.ts';
export type { Media } from './controller.ts';
export type { RelaySnapshot, StreamSnapshot } from './snapshot.ts';

/** Creates the media service; it follows the nodes' up/down events from now on. */
export function createMedia(opts: MediaOptions): Media {
  return new MediaController(opts);
}
