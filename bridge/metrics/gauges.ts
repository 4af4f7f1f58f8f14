/**
 * The gauges read from the nodes and the media layer when /metrics is scraped, so they cannot
 * drift. Each process reports what it drives: the one bridge every node, an agent its own node
 * (the origin's agent its streams and forwards, an edge's agent its copies and their players), so
 * the sum over the agents is what the bridge reports.
 */
import { Gauge, type Registry } from 'prom-client';
import type { NodeInfo } from '../../protocol/index.ts';
import type { JanusStats } from './janus-stats.ts';
import { cascadeCounts, forwardCounts, type Share, type StreamView } from './view.ts';

export interface GaugeSources {
  nodes(): NodeInfo[];
  streams(): StreamView[];
  shares(): Share[];
  stats: JanusStats;
  /** WCS sessions open on the worker whose links report to this process. */
  workerSessions(): number;
}

export function registerGauges(registry: Registry, src: GaugeSources): void {
  const registers = [registry];
  const { nodes, streams, shares, stats } = src;
  new Gauge({
    name: 'fanout_node_up',
    help: 'Whether this process has a live Janus connection to the node (1) or not (0).',
    labelNames: ['node', 'role'],
    registers,
    collect() {
      this.reset();
      for (const n of nodes()) this.set({ node: n.id, role: n.role }, n.up ? 1 : 0);
    },
  });
  new Gauge({
    name: 'fanout_node_publishers',
    help: 'Publisher handles this process holds on the node.',
    labelNames: ['node', 'role'],
    registers,
    collect() {
      this.reset();
      for (const n of nodes()) this.set({ node: n.id, role: n.role }, n.load.publishers);
    },
  });
  new Gauge({
    name: 'fanout_node_subscribers',
    help: 'Subscriber (player) handles this process holds on the node.',
    labelNames: ['node', 'role'],
    registers,
    collect() {
      this.reset();
      for (const n of nodes()) this.set({ node: n.id, role: n.role }, n.load.subscribers);
    },
  });
  new Gauge({
    name: 'fanout_streams_live',
    help: 'Published streams whose publisher is configured on the origin this process drives (an edge\'s agent: 0, see fanout_edge_cascades).',
    registers,
    collect() {
      this.set(streams().filter((s) => s.configuredAt !== undefined).length);
    },
  });
  new Gauge({
    name: 'fanout_edge_cascades',
    help: 'Streams relayed to each edge, by relay state (pending, ready): the bridge\'s cascades, or an edge agent\'s copies.',
    labelNames: ['edge', 'state'],
    registers,
    collect() {
      this.reset();
      for (const [edge, c] of cascadeCounts(nodes(), shares())) {
        this.set({ edge, state: 'ready' }, c.ready);
        this.set({ edge, state: 'pending' }, c.pending);
      }
    },
  });
  new Gauge({
    name: 'fanout_origin_forwards',
    help: 'Streams the origin forwards to each edge\'s copy, made or being made at the coordinator\'s request (an origin agent\'s; the one bridge cascades instead).',
    labelNames: ['edge'],
    registers,
    collect() {
      this.reset();
      for (const [edge, n] of forwardCounts(streams())) this.set({ edge }, n);
    },
  });
  new Gauge({
    name: 'fanout_stream_viewers',
    help: 'Players of each live stream, by the node they play from.',
    labelNames: ['stream', 'node'],
    registers,
    collect() {
      this.reset();
      for (const s of shares()) this.set({ stream: s.stream, node: s.node }, s.viewers.length);
    },
  });
  new Gauge({
    name: 'fanout_stream_bitrate_in_bps',
    help: 'Bits per second the origin receives from each stream\'s publisher (Janus stats), by kind.',
    labelNames: ['stream', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const s of streams()) {
        const b = stats.bitrate(s.publisherHandle);
        if (b === undefined) continue;
        this.set({ stream: s.name, kind: 'audio' }, b.in.audio);
        this.set({ stream: s.name, kind: 'video' }, b.in.video);
      }
    },
  });
  new Gauge({
    name: 'fanout_node_bitrate_out_bps',
    help: 'Bits per second each node sends to its players (Janus stats of their subscriber handles), by kind.',
    labelNames: ['node', 'kind'],
    registers,
    collect() {
      this.reset();
      const out = new Map<string, { audio: number; video: number }>();
      for (const n of nodes()) out.set(n.id, { audio: 0, video: 0 });
      for (const s of shares()) {
        const o = out.get(s.node);
        if (o === undefined) continue;
        for (const p of s.viewers) {
          const b = stats.bitrate(p.handle);
          if (b === undefined) continue;
          o.audio += b.out.audio;
          o.video += b.out.video;
        }
      }
      for (const [node, b] of out) {
        this.set({ node, kind: 'audio' }, b.audio);
        this.set({ node, kind: 'video' }, b.video);
      }
    },
  });
  new Gauge({
    name: 'fanout_worker_sessions',
    help: 'WCS sessions open on the worker, as reported over their links to this process.',
    registers,
    collect() {
      this.set(src.workerSessions());
    },
  });
}
