import { describe, expect, it } from 'vitest';
import type { NodeInfo } from '../../protocol/index.ts';
import { healthyEdges, noEdgeReason, pickEdge, pickOrigin, pinnedEdge, type BalancingPolicy } from './policy.ts';

function n(id: string, role: 'origin' | 'edge', load: { publishers?: number; subscribers?: number } = {}, up = true): NodeInfo {
  return { id, role, host: `${id}.localhost:8787`, up, since: 0, load: { publishers: load.publishers ?? 0, subscribers: load.subscribers ?? 0 } };
}

const pick = (policy: BalancingPolicy, nodes: NodeInfo[], tick = 0, random = () => 0): string | undefined => {
  const r = pickEdge({ policy, nodes, tick, random });
  return r.ok ? r.node.id : undefined;
};

describe('healthyEdges', () => {
  it('keeps only edges that are up, ordered by id numerically (edge-2 before edge-10)', () => {
    const nodes = [n('edge-10', 'edge'), n('origin', 'origin'), n('edge-2', 'edge'), n('edge-3', 'edge', {}, false), n('edge-1', 'edge')];
    expect(healthyEdges(nodes).map((x) => x.id)).toEqual(['edge-1', 'edge-2', 'edge-10']);
  });
});

describe('pickEdge ROUNDROBIN', () => {
  const nodes = [n('origin', 'origin'), n('edge-2', 'edge'), n('edge-1', 'edge'), n('edge-3', 'edge')];

  it('walks the healthy edges in id order as the tick grows, and wraps around', () => {
    expect([0, 1, 2, 3, 4].map((t) => pick('ROUNDROBIN', nodes, t))).toEqual(['edge-1', 'edge-2', 'edge-3', 'edge-1', 'edge-2']);
  });

  it('skips an edge that is down', () => {
    const some = [n('edge-1', 'edge'), n('edge-2', 'edge', {}, false), n('edge-3', 'edge')];
    expect([0, 1, 2].map((t) => pick('ROUNDROBIN', some, t))).toEqual(['edge-1', 'edge-3', 'edge-1']);
  });

  it('ignores load figures', () => {
    const loaded = [n('edge-1', 'edge', { subscribers: 100 }), n('edge-2', 'edge')];
    expect(pick('ROUNDROBIN', loaded, 0)).toBe('edge-1');
  });
});

describe('pickEdge FEWESTCALLS', () => {
  it('chooses the edge with the fewest subscribers, whatever its publishers', () => {
    const nodes = [n('edge-1', 'edge', { subscribers: 5 }), n('edge-2', 'edge', { subscribers: 2, publishers: 50 }), n('edge-3', 'edge', { subscribers: 9 })];
    expect(pick('FEWESTCALLS', nodes, 0)).toBe('edge-2');
    expect(pick('FEWESTCALLS', nodes, 7)).toBe('edge-2');
  });

  it('rotates between edges tied on the fewest subscribers with the tick', () => {
    const nodes = [n('edge-1', 'edge', { subscribers: 1 }), n('edge-2', 'edge', { subscribers: 3 }), n('edge-3', 'edge', { subscribers: 1 })];
    expect([0, 1, 2].map((t) => pick('FEWESTCALLS', nodes, t))).toEqual(['edge-1', 'edge-3', 'edge-1']);
  });

  it('never chooses an edge that is down, even an idle one', () => {
    const nodes = [n('edge-1', 'edge', { subscribers: 0 }, false), n('edge-2', 'edge', { subscribers: 40 })];
    expect(pick('FEWESTCALLS', nodes)).toBe('edge-2');
  });

  it('never chooses the origin', () => {
    expect(pick('FEWESTCALLS', [n('origin', 'origin'), n('edge-1', 'edge', { subscribers: 10 })])).toBe('edge-1');
  });
});

describe('pickEdge LESS_LOADED_NODE', () => {
  it('chooses the smallest publishers + subscribers', () => {
    const nodes = [n('edge-1', 'edge', { publishers: 4, subscribers: 1 }), n('edge-2', 'edge', { publishers: 0, subscribers: 3 }), n('edge-3', 'edge', { publishers: 2, subscribers: 2 })];
    expect(pick('LESS_LOADED_NODE', nodes)).toBe('edge-2');
  });

  it('differs from FEWESTCALLS when publishers weigh in', () => {
    const nodes = [n('edge-1', 'edge', { publishers: 10, subscribers: 1 }), n('edge-2', 'edge', { publishers: 0, subscribers: 2 })];
    expect(pick('FEWESTCALLS', nodes)).toBe('edge-1');
    expect(pick('LESS_LOADED_NODE', nodes)).toBe('edge-2');
  });

  it('rotates between tied edges with the tick', () => {
    const nodes = [n('edge-1', 'edge', { publishers: 1 }), n('edge-2', 'edge', { subscribers: 1 })];
    expect([0, 1].map((t) => pick('LESS_LOADED_NODE', nodes, t))).toEqual(['edge-1', 'edge-2']);
  });
});

describe('pickEdge RANDOM', () => {
  const nodes = [n('edge-1', 'edge'), n('edge-2', 'edge'), n('edge-3', 'edge'), n('edge-4', 'edge', {}, false)];

  it('maps random() over the healthy edges uniformly', () => {
    expect(pick('RANDOM', nodes, 0, () => 0)).toBe('edge-1');
    expect(pick('RANDOM', nodes, 0, () => 0.34)).toBe('edge-2');
    expect(pick('RANDOM', nodes, 0, () => 0.999)).toBe('edge-3');
  });

  it('stays within the healthy edges for out-of-range random() values', () => {
    expect(pick('RANDOM', nodes, 0, () => 1)).toBe('edge-3');
    expect(pick('RANDOM', nodes, 0, () => -1)).toBe('edge-1');
    expect(pick('RANDOM', nodes, 0, () => Number.NaN)).toBe('edge-1');
  });

  it('reaches every healthy edge and never a down one over many picks', () => {
    const seen = new Set<string | undefined>();
    for (let i = 0; i < 200; i++) seen.add(pick('RANDOM', nodes, i, Math.random));
    expect([...seen].sort()).toEqual(['edge-1', 'edge-2', 'edge-3']);
  });
});

describe('pickEdge with no healthy edge', () => {
  it.each(['ROUNDROBIN', 'FEWESTCALLS', 'RANDOM', 'LESS_LOADED_NODE'] as const)('%s fails naming the edges that are down', (policy) => {
    const r = pickEdge({ policy, nodes: [n('origin', 'origin'), n('edge-2', 'edge', {}, false), n('edge-1', 'edge', {}, false)], tick: 0, random: Math.random });
    expect(r).toEqual({ ok: false, reason: 'no healthy edge: edge-1 is down, edge-2 is down' });
  });

  it('says so when the topology has no edges at all', () => {
    expect(noEdgeReason([n('origin', 'origin')])).toBe('the topology has no edge nodes');
    expect(pickEdge({ policy: 'ROUNDROBIN', nodes: [n('origin', 'origin')], tick: 3, random: Math.random }).ok).toBe(false);
  });
});

describe('pinnedEdge (the rule /lb, WHEP and the WCS redirect share)', () => {
  const nodes = [n('origin', 'origin'), n('edge-1', 'edge'), n('edge-2', 'edge', {}, false)];
  it('a token naming an edge that is up gets that edge', () => {
    expect(pinnedEdge(nodes, 'edge-1')).toEqual({ ok: true, node: nodes[1] });
  });
  it('a token naming the origin or an unknown node is PERMISSION_DENIED', () => {
    expect(pinnedEdge(nodes, 'origin')).toEqual({ ok: false, code: 'PERMISSION_DENIED', reason: 'the token is for node origin, which is not an edge' });
    expect(pinnedEdge(nodes, 'edge-9')).toEqual({ ok: false, code: 'PERMISSION_DENIED', reason: 'the token is for node edge-9, which is not an edge' });
  });
  it('a token naming an edge that is down is UNAVAILABLE', () => {
    expect(pinnedEdge(nodes, 'edge-2')).toEqual({ ok: false, code: 'UNAVAILABLE', reason: "edge-2 (the token's node) is down" });
  });
});

describe('pickOrigin: where a publish that must be placed goes', () => {
  const o = (id: string, publishers: number, subscribers: number, up = true): NodeInfo => ({ id, role: 'origin', host: `${id}.localhost:8787`, up, since: 0, load: { publishers, subscribers } });

  it('the up origin with the fewest publishers, then the fewest subscribers', () => {
    expect(pickOrigin([o('origin', 2, 0), o('origin-2', 1, 50), o('origin-3', 1, 10)], 0)).toMatchObject({ ok: true, node: { id: 'origin-3' } });
  });

  it('never an origin that is down, nor an edge', () => {
    const edge: NodeInfo = { ...o('edge-1', 0, 0), role: 'edge' };
    expect(pickOrigin([o('origin', 0, 0, false), edge, o('origin-2', 5, 5)], 0)).toMatchObject({ ok: true, node: { id: 'origin-2' } });
  });

  it('ties rotate with tick', () => {
    const nodes = [o('origin', 1, 1), o('origin-2', 1, 1)];
    expect([0, 1, 2].map((t) => (pickOrigin(nodes, t) as { node: NodeInfo }).node.id)).toEqual(['origin', 'origin-2', 'origin']);
  });

  it('no origin up says which are down; none at all says so', () => {
    expect(pickOrigin([o('origin', 0, 0, false), o('origin-2', 0, 0, false)], 0)).toEqual({ ok: false, reason: 'no origin is up: origin is down, origin-2 is down' });
    expect(pickOrigin([], 0)).toEqual({ ok: false, reason: 'the topology has no origin node' });
  });
});
