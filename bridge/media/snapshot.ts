/**
 * A read-only view of one stream for metrics and the dashboard: ids and states only, nothing that
 * can change Janus.
 */
import type { Stream } from './stream.ts';

/** One stream as `streams()` shows it: ids and states only, nothing that can change Janus. */
export interface StreamSnapshot {
  readonly name: string;
  readonly publishId: string;
  readonly origin: string;
  /** Epoch ms the publisher was configured; undefined while it is being set up. */
  readonly configuredAt: number | undefined;
  /** PUBLISHING was sent (WebRTC up and media flowing). */
  readonly publishing: boolean;
  /** The Janus handle id of the publisher on the origin, once attached. */
  readonly publisherHandle: number | undefined;
  readonly cascadeReadyMs: number | undefined;
  readonly edges: ReadonlyArray<{ readonly node: string; readonly state: 'pending' | 'ready' | 'failed' }>;
  readonly players: ReadonlyArray<{ readonly playId: string; readonly node: string; readonly handle: number | undefined; readonly playing: boolean }>;
}

export function snapshot(s: Stream): StreamSnapshot {
  return {
    name: s.name,
    publishId: s.publishId,
    origin: s.node.id,
    configuredAt: s.configuredAt,
    publishing: s.state === 'publishing',
    publisherHandle: s.handle?.id,
    cascadeReadyMs: s.cascadeReadyMs,
    edges: [...s.cascades.values()].map((c) => ({ node: c.node.id, state: c.state === 'closed' ? 'failed' : c.state })),
    players: s.allPlayers().map((p) => ({ playId: p.playId, node: p.node.id, handle: p.handle?.id, playing: p.state === 'playing' })),
  };
}
