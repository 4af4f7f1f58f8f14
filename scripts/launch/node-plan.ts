/**
 * The Janus nodes the launcher runs here and the ports every part it starts listens on: one Janus
 * per local node of the topology (its API WebSocket, its admin WebSocket when asked for, its RTP
 * range), however many origins and edges the topology lists. Pure (nothing is started), so the
 * unit tests check the plan itself, and checked before anything starts: the free-port probe
 * cannot see two parts planned on one port (both are free until one starts), nor two local nodes
 * given overlapping RTP ranges (a second origin copied from the first, its range left alone).
 */
import type { TopologyNode } from '../../bridge/topology/index.ts';

export class NodePlanError extends Error {
  override readonly name = 'NodePlanError';
}

/** Where a node's Janus API listens; a local node is one whose Janus API URL points at this machine: the launcher runs it. */
export function janusEndpoint(node: TopologyNode): { host: string; port: number; local: boolean } {
  const url = new URL(node.janusUrl);
  const port = url.port === '' ? (url.protocol === 'wss:' ? 443 : 80) : Number(url.port);
  const host = url.hostname;
  const local = host === 'localhost' || host.startsWith('127.') || host === '[::1]';
  return { host: host === 'localhost' ? '127.0.0.1' : host, port, local };
}

/**
 * A node's RTP range when the topology gives none: 1000 ports from 20000 by its topology index,
 * so a node keeps its range whatever else is local (as an agent keeps its port, ./control.ts).
 */
export function defaultRtpRange(topologyIndex: number): string {
  const lo = 20000 + topologyIndex * 1000;
  if (lo + 999 > 65535) throw new NodePlanError(`topology node #${topologyIndex + 1} has no rtp_port_range and no default one is left (${lo}-${lo + 999} passes 65535): give it one`);
  return `${lo}-${lo + 999}`;
}

/** One Janus the launcher runs: its node and every port it takes. */
export interface LocalJanus {
  node: TopologyNode;
  /** Its API WebSocket. */
  host: string;
  port: number;
  /** Its admin API WebSocket (on `host`), or undefined when off. */
  adminPort: number | undefined;
  rtpPortRange: string;
}

/** One Janus per local node, in topology order; fails when two of them would share RTP ports. */
export function localJanusPlan(nodes: readonly TopologyNode[], adminPortOffset: number | undefined): LocalJanus[] {
  const plan = nodes.flatMap((node, index): LocalJanus[] => {
    const ep = janusEndpoint(node);
    if (!ep.local) return [];
    const adminPort = adminPortOffset === undefined ? undefined : ep.port + adminPortOffset;
    if (adminPort !== undefined && adminPort > 65535) {
      throw new NodePlanError(`FANOUT_JANUS_ADMIN_PORT_OFFSET ${adminPortOffset} puts the admin API of node "${node.id}" past port 65535 (${adminPort})`);
    }
    return [{ node, host: ep.host, port: ep.port, adminPort, rtpPortRange: node.rtpPortRange ?? defaultRtpRange(index) }];
  });
  for (const [i, a] of plan.entries()) {
    for (const b of plan.slice(i + 1)) {
      const [aLo, aHi] = bounds(a.rtpPortRange);
      const [bLo, bHi] = bounds(b.rtpPortRange);
      if (aLo <= bHi && bLo <= aHi) {
        throw new NodePlanError(`nodes "${a.node.id}" and "${b.node.id}" run here with overlapping RTP ports (${a.rtpPortRange} and ${b.rtpPortRange}): give each its own rtp_port_range`);
      }
    }
  }
  return plan;
}

function bounds(range: string): [number, number] {
  const [lo, hi] = range.split('-').map(Number);
  return [lo ?? 0, hi ?? 0];
}

/** A port one part of the run listens on. */
export interface PortUse {
  what: string;
  host: string;
  port: number;
}

/** The ports of the local Janus nodes: each one's API, then each one's admin API. */
export function janusPorts(plan: readonly LocalJanus[]): PortUse[] {
  return [
    ...plan.map((j) => ({ what: `Janus API of node ${j.node.id}`, host: j.host, port: j.port })),
    ...plan.flatMap((j) => (j.adminPort === undefined ? [] : [{ what: `Janus admin API of node ${j.node.id}`, host: j.host, port: j.adminPort }])),
  ];
}

/** Fails naming both parts when two are planned on one port of one host. */
export function checkDistinctPorts(uses: readonly PortUse[]): void {
  const seen = new Map<string, string>();
  for (const u of uses) {
    const key = `${u.host}:${u.port}`;
    const other = seen.get(key);
    if (other !== undefined) throw new NodePlanError(`port ${u.port} on ${u.host} is planned for both ${other} and ${u.what}`);
    seen.set(key, u.what);
  }
}
