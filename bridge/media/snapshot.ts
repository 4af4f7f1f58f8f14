/**
 * A read-only view of one stream for metrics and the dashboard: ids and states only, nothing that
 * can change Janus.
 */
import type { Relay } from './relay.ts';
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
  /** The origin's forwards to edges' copies (an origin agent's, made at the coordinator's request). */
  readonly forwards: ReadonlyArray<{ readonly edge: string }>;
}

/** An edge's copy of a stream (./relay.ts) as `relays()` shows it: held by that edge's agent. */
export interface RelaySnapshot {
  readonly name: string;
  readonly node: string;
  readonly state: 'pending' | 'ready' | 'failed';
  readonly players: StreamSnapshot['players'];
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
    forwards: [...s.forwards.values()].map((f) => ({ edge: f.edge })),
  };
}

export function relaySnapshot(r: Relay): RelaySnapshot {
  return {
    name: r.name,
    node: r.node.id,
    state: r.state === 'closed' ? 'failed' : r.state,
    players: [...r.players].map((p) => ({ playId: p.playId, node: p.node.id, handle: p.handle?.id, playing: p.state === 'playing' })),
  };
}
