/**
 * The bridge's media layer: publish on the origin, cascade to every edge, play on any node, and
 * tear it all down. See ./service.ts for how names map to rooms and how the cascade works.
 */
import { MediaController, type Media, type MediaOptions } from './service.ts';

export { DEFAULT_NO_MEDIA_TIMEOUT_MS } from './service.ts';

export type { Media, MediaNode, MediaNodes, MediaOptions, StreamSnapshot } from './service.ts';

/** Creates the media service; it follows the nodes' up/down events from now on. */
export function createMedia(opts: MediaOptions): Media {
  return new MediaController(opts);
}
