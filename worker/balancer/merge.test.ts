/**
 * mergeNodes and mergeStreams: the CDN's view from several agents' answers. Pure; the same merge
 * through the worker and two stand-in agents is in ../agents.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { StreamsResult } from '../../protocol/index.ts';
import type { AgentMap } from '../env.ts';
import { node } from '../testing.ts';
import { downReason, mergeLastReports, mergeNodes, mergeStreams, type AgentOutcome, type NodesSnapshot } from './merge.ts';

const A = 'http://agent-a';
const B = 'http://agent-b';
const one: AgentMap = { defaultUrl: A, byNode: {} };
const two: AgentMap = { defaultUrl: A, byNode: { 'edge-1': B } };

const snap = (nodes: NodesSnapshot['nodes'], updatedAt = 10): NodesSnapshot => ({ mode: 'FEWESTCALLS', loadBalancing: true, nodes, updatedAt });
const failed = (url: string, lastReported?: NodesSnapshot): AgentOutcome => ({ url, ok: false, error: { code: 'UNAVAILABLE', message: `the bridge at ${url}/api is unreachable` }, since: 500, lastReported });

describe('mergeNodes', () => {
  it('with one agent hands its answer through as it is', () => {
    const answer = snap([node('origin', 'origin'), node('edge-2', 'edge'), node('edge-1', 'edge')]);
    expect(mergeNodes(one, [{ url: A, ok: true, snapshot: answer }])).toEqual(answer);
  });

  it('is undefined when no agent answered', () => {
    expect(mergeNodes(two, [failed(A), failed(B)])).toBeUndefined();
  });

  it('takes each node from its own agent over another agent\'s report of it, in first-report order', () => {
    const fromA = snap([node('origin', 'origin'), node('edge-1', 'edge', { load: { publishers: 0, subscribers: 9 } })], 10);
    const fromB = snap([node('edge-1', 'edge', { load: { publishers: 0, subscribers: 1 } })], 20);
    const merged = mergeNodes(two, [
      { url: A, ok: true, snapshot: fromA },
      { url: B, ok: true, snapshot: fromB },
    ]);
    expect(merged).toEqual(snap([node('origin', 'origin'), node('edge-1', 'edge', { load: { publishers: 0, subscribers: 1 } })], 20));
  });

  it('marks the nodes of an agent that does not answer down since it failed, with why, whoever else reports them up', () => {
    const merged = mergeNodes(two, [{ url: A, ok: true, snapshot: snap([node('origin', 'origin'), node('edge-1', 'edge'), node('edge-2', 'edge')]) }, failed(B)]);
    expect(merged?.nodes).toEqual([node('origin', 'origin'), node('edge-1', 'edge', { up: false, since: 500 }), node('edge-2', 'edge')]);
    expect(merged?.unreachable).toEqual({ 'edge-1': `the bridge at ${B}/api is unreachable` });
    expect(merged === undefined ? undefined : downReason(merged)).toBe(`down: edge-1 (the bridge at ${B}/api is unreachable)`);
  });

  it('keeps a node that was already down at its own since', () => {
    const merged = mergeNodes(two, [{ url: A, ok: true, snapshot: snap([node('origin', 'origin')]) }, failed(B, snap([node('edge-1', 'edge', { up: false, since: 7 })]))]);
    expect(merged?.nodes).toEqual([node('origin', 'origin'), node('edge-1', 'edge', { up: false, since: 7 })]);
  });

  it('a failed agent does not take down nodes it reported but does not serve', () => {
    const map: AgentMap = { defaultUrl: A, byNode: { origin: B, 'edge-1': B } };
    const merged = mergeNodes(map, [failed(A, snap([node('origin', 'origin'), node('edge-1', 'edge'), node('edge-2', 'edge')])), { url: B, ok: true, snapshot: snap([node('origin', 'origin'), node('edge-1', 'edge')]) }]);
    expect(merged?.nodes.map((n) => [n.id, n.up])).toEqual([
      ['origin', true],
      ['edge-1', true],
      ['edge-2', false],
    ]);
    expect(Object.keys(merged?.unreachable ?? {})).toEqual(['edge-2']);
  });

  it('names a node of an unreachable agent that no agent ever reported in the reason, though it cannot list it', () => {
    const merged = mergeNodes(two, [{ url: A, ok: true, snapshot: snap([node('origin', 'origin')]) }, failed(B)]);
    expect(merged?.nodes).toEqual([node('origin', 'origin')]);
    expect(merged === undefined ? undefined : downReason(merged)).toBe(`down: edge-1 (the bridge at ${B}/api is unreachable)`);
  });

  it('mergeLastReports: what every agent last reported, for the down view', () => {
    expect(mergeLastReports(two, [failed(A, snap([node('origin', 'origin')])), failed(B, snap([node('edge-1', 'edge')]))])?.nodes).toEqual([node('origin', 'origin'), node('edge-1', 'edge')]);
    expect(mergeLastReports(two, [failed(A), failed(B)])).toBeUndefined();
  });
});

describe('mergeStreams', () => {
  const result = (over: Partial<StreamsResult>): StreamsResult => ({ at: 1, streams: [], history: [], historyPeriodMs: 2000, ...over });

  it('with one answer hands it through', () => {
    const r = result({ history: [{ t: 1, viewers: 2, streams: 1 }] });
    expect(mergeStreams(one, [{ url: A, result: r }])).toBe(r);
  });

  it('aligns histories from the newest sample, sums viewers and counts streams once', () => {
    const fromA = result({ at: 5, history: [{ t: 1, viewers: 1, streams: 1 }, { t: 3, viewers: 2, streams: 1 }] });
    const fromB = result({ at: 6, history: [{ t: 4, viewers: 5, streams: 1 }] });
    expect(mergeStreams(two, [{ url: A, result: fromA }, { url: B, result: fromB }])).toEqual(result({
      at: 6,
      history: [{ t: 1, viewers: 1, streams: 1 }, { t: 3, viewers: 7, streams: 1 }],
    }));
  });

  it('keeps the first agent\'s history when the agents sample at different periods', () => {
    const fromA = result({ history: [{ t: 1, viewers: 1, streams: 1 }] });
    const fromB = result({ history: [{ t: 4, viewers: 5, streams: 1 }], historyPeriodMs: 1000 });
    expect(mergeStreams(two, [{ url: A, result: fromA }, { url: B, result: fromB }])?.history).toEqual(fromA.history);
  });
});
