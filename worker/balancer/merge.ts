/**
 * The CDN's view from every agent's answer, as pure functions the Balancer applies: the node list
 * (each node as its own agent reports it; the nodes of an agent that cannot be reached marked down,
 * with why) and the dashboard's streams. With one agent (AGENT_URLS unset) both hand that agent's
 * answer through unchanged.
 */
import type { ErrorCode, NodeInfo, StreamInfo, StreamNodeInfo, StreamsResult, ViewerSample } from '../../protocol/index.ts';
import { agentUrlOf, type AgentMap } from '../env.ts';
import type { BalancingPolicy } from './policy.ts';

export interface NodesSnapshot {
  mode: BalancingPolicy;
  loadBalancing: boolean;
  nodes: NodeInfo[];
  /** Epoch ms of the last `nodes` reply or `node` event. */
  updatedAt: number;
  /**
   * Nodes whose agent cannot be reached (while another agent answers), with why: they are listed
   * down in `nodes` when any agent ever reported them. Absent when every agent answers.
   */
  unreachable?: Record<string, string>;
}

/** What asking one agent for its nodes gave. */
export type AgentOutcome =
  | { url: string; ok: true; snapshot: NodesSnapshot }
  | {
      url: string;
      ok: false;
      error: { code: ErrorCode; message: string };
      /** Epoch ms since which it has failed (its nodes are down since then). */
      since: number;
      /** The node list it last reported, if it ever did. */
      lastReported: NodesSnapshot | undefined;
    };

/**
 * The merged node list, or undefined when no agent answered. `outcomes` are in agentUrlsOf order
 * (BRIDGE_URL first), which also decides the mode, the load-balancing switch (the first agent that
 * answered: every agent reads the same topology) and the order of the nodes (first report first).
 *
 * A node is owned by its agent (agentUrlOf): its report of the node wins over any other agent's;
 * when the owner does not answer, the node is down whoever else still reports it, because every
 * request for that node goes to the owner. A node of an answering owner that no answering agent
 * reports is left out: nobody can serve it.
 */
export function mergeNodes(agents: AgentMap, outcomes: readonly AgentOutcome[]): NodesSnapshot | undefined {
  const answered = outcomes.filter((o) => o.ok);
  const first = answered[0];
  if (first === undefined) return undefined;
  const failed = new Map<string, Extract<AgentOutcome, { ok: false }>>();
  for (const o of outcomes) if (!o.ok) failed.set(o.url, o);

  // rank: 0 the owner's answer, 1 another agent's answer, 2 the owner's last report, 3 another's last.
  const best = new Map<string, { info: NodeInfo; rank: number }>();
  const order: string[] = [];
  const offer = (node: NodeInfo, rank: number): void => {
    const prev = best.get(node.id);
    if (prev === undefined) order.push(node.id);
    if (prev === undefined || rank < prev.rank) best.set(node.id, { info: node, rank });
  };
  for (const o of outcomes) {
    const nodes = o.ok ? o.snapshot.nodes : (o.lastReported?.nodes ?? []);
    for (const n of nodes) offer(n, (o.ok ? 0 : 2) + (agentUrlOf(agents, n.id) === o.url ? 0 : 1));
  }

  const nodes: NodeInfo[] = [];
  const unreachable: Record<string, string> = {};
  const known = new Set(order);
  for (const id of [...order, ...Object.keys(agents.byNode).filter((id) => !known.has(id))]) {
    const down = failed.get(agentUrlOf(agents, id));
    const seen = best.get(id);
    if (down !== undefined) {
      unreachable[id] = down.error.message;
      if (seen !== undefined) nodes.push({ ...seen.info, up: false, since: seen.info.up ? down.since : seen.info.since, load: { ...seen.info.load } });
    } else if (seen !== undefined && seen.rank <= 1) {
      nodes.push(seen.info);
    }
  }
  return {
    mode: first.snapshot.mode,
    loadBalancing: first.snapshot.loadBalancing,
    nodes,
    updatedAt: Math.max(...answered.map((o) => o.snapshot.updatedAt)),
    ...(Object.keys(unreachable).length === 0 ? {} : { unreachable }),
  };
}

/**
 * What was last known with every agent away: each agent's last report merged as if it had answered
 * (the caller lists them down). Undefined when none ever reported.
 */
export function mergeLastReports(agents: AgentMap, outcomes: readonly AgentOutcome[]): NodesSnapshot | undefined {
  const asAnswered = outcomes.flatMap((o): AgentOutcome[] => (o.ok ? [o] : o.lastReported === undefined ? [] : [{ url: o.url, ok: true, snapshot: o.lastReported }]));
  return mergeNodes(agents, asAnswered);
}

/** Why nodes are down, for /health and /status.json: `down: edge-1 (<its agent's failure>), edge-2`. */
export function downReason(snapshot: Pick<NodesSnapshot, 'nodes' | 'unreachable'>): string | undefined {
  const unreachable = snapshot.unreachable ?? {};
  const listed = new Set(snapshot.nodes.map((n) => n.id));
  const down = [...snapshot.nodes.filter((n) => !n.up).map((n) => n.id), ...Object.keys(unreachable).filter((id) => !listed.has(id))];
  if (down.length === 0) return undefined;
  return `down: ${down.map((id) => (unreachable[id] === undefined ? id : `${id} (${unreachable[id]})`)).join(', ')}`;
}

/**
 * The dashboard's streams from every agent that answered (`results` in agentUrlsOf order). One
 * answer is handed through. Several are merged by stream name; each node's share of a stream comes
 * from that node's own agent when it reports it, the publisher's figures (bitrateIn, since,
 * cascadeReadyMs) from the origin's agent, and viewers are the sum over the merged nodes, as the
 * bridge counts them.
 *
 * The viewer history does not merge exactly: agents sample at their own instants. Samples are
 * aligned from the newest (when the agents share one period; otherwise the first agent's history is
 * kept), viewers summed, and streams the most any agent counted (a stream relayed to several
 * agents' nodes is one stream).
 */
export function mergeStreams(agents: AgentMap, results: readonly { url: string; result: StreamsResult }[]): StreamsResult | undefined {
  const [first, ...others] = results;
  if (first === undefined) return undefined;
  if (others.length === 0) return first.result;
  const byName = new Map<string, { parts: { url: string; info: StreamInfo }[] }>();
  for (const { url, result } of results) {
    for (const info of result.streams) {
      const entry = byName.get(info.name) ?? { parts: [] };
      entry.parts.push({ url, info });
      byName.set(info.name, entry);
    }
  }
  const streams = [...byName.values()].map(({ parts }) => mergeStream(agents, parts));
  return {
    at: Math.max(...results.map((r) => r.result.at)),
    streams,
    ...mergeHistory(results.map((r) => r.result)),
  };
}

function mergeStream(agents: AgentMap, parts: readonly { url: string; info: StreamInfo }[]): StreamInfo {
  const base = parts[0];
  if (base === undefined) throw new Error('mergeStream: no parts');
  if (parts.length === 1) return base.info;
  const publisherSide = parts.find((p) => agentUrlOf(agents, p.info.origin) === p.url) ?? base;
  const shares = new Map<string, { share: StreamNodeInfo; own: boolean }>();
  for (const { url, info } of parts) {
    for (const share of info.nodes) {
      const own = agentUrlOf(agents, share.node) === url;
      const prev = shares.get(share.node);
      if (prev === undefined || (own && !prev.own)) shares.set(share.node, { share, own });
    }
  }
  const nodes = [...shares.values()].map((s) => s.share);
  // The origin first, as the bridge lists them.
  nodes.sort((a, b) => (a.role === b.role ? 0 : a.role === 'origin' ? -1 : 1));
  const p = publisherSide.info;
  return {
    name: p.name,
    origin: p.origin,
    since: p.since,
    publishing: parts.some((x) => x.info.publishing),
    ...(p.bitrateIn === undefined ? {} : { bitrateIn: p.bitrateIn }),
    ...(p.cascadeReadyMs === undefined ? {} : { cascadeReadyMs: p.cascadeReadyMs }),
    viewers: nodes.reduce((sum, n) => sum + n.viewers, 0),
    nodes,
  };
}

function mergeHistory(results: readonly StreamsResult[]): { history: ViewerSample[]; historyPeriodMs: number } {
  const first = results[0];
  if (first === undefined) return { history: [], historyPeriodMs: 0 };
  if (results.some((r) => r.historyPeriodMs !== first.historyPeriodMs)) return { history: first.history, historyPeriodMs: first.historyPeriodMs };
  const longest = results.reduce((a, r) => (r.history.length > a.history.length ? r : a), first);
  const n = longest.history.length;
  const history = longest.history.map((sample, i): ViewerSample => {
    const fromEnd = n - i;
    const aligned = results.map((r) => r.history[r.history.length - fromEnd]).filter((s): s is ViewerSample => s !== undefined);
    return { t: sample.t, viewers: aligned.reduce((sum, s) => sum + s.viewers, 0), streams: Math.max(...aligned.map((s) => s.streams)) };
  });
  return { history, historyPeriodMs: first.historyPeriodMs };
}
