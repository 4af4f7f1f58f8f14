/**
 * Hop latency: what the origin-to-edge cascade adds to every packet. One werift publisher on the
 * origin; one werift subscriber on the origin and one on an edge, in this process, recording when
 * each video RTP packet arrives. Janus renumbers sequence numbers per subscriber, so the constant
 * offset between the two numberings is found first (the most common difference among packets
 * whose payloads are identical), then every packet is matched by sequence number and the arrival
 * times are subtracted. Both subscribers share one event loop, so client-side delays hit both.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { newMediaId } from '../../protocol/index.ts';
import { type BridgeClient, isPublisherEvent } from '../../test/harness/bridge-client.ts';
import { WeriftPublisher, WeriftSubscriber } from '../../test/harness/werift-peer.ts';
import { sleep, withTimeout, type Cleanup } from '../lib/run.ts';
import { round, roundSummary, summarize, type Summary } from '../lib/stats.ts';

export interface HopResult {
  edge: string;
  durationMs: number;
  /** edge arrival - origin arrival, per matched packet (ms). */
  summary: Summary;
  matched: number;
  originPackets: number;
  edgePackets: number;
  /** The sequence-number offset found between the two subscribers' numberings. */
  seqOffset: number;
}

interface Arrival {
  t: number;
  seq: number;
  key: string;
}

function recordVideo(sub: WeriftSubscriber, into: Arrival[]): void {
  sub.pc.onTrack.subscribe((track) => {
    if (track.kind !== 'video') return;
    track.onReceiveRtp.subscribe((rtp) => {
      const t = performance.now();
      into.push({ t, seq: rtp.header.sequenceNumber, key: createHash('sha1').update(rtp.payload).digest('base64') });
    });
  });
}

/** The most common (edge seq - origin seq) mod 2^16 over packets with identical payloads and close arrival times. */
function seqOffset(origin: Arrival[], edge: Arrival[]): number {
  const byKey = new Map<string, Arrival[]>();
  for (const a of origin) {
    const list = byKey.get(a.key) ?? [];
    list.push(a);
    byKey.set(a.key, list);
  }
  const votes = new Map<number, number>();
  for (const e of edge) {
    for (const o of byKey.get(e.key) ?? []) {
      if (Math.abs(e.t - o.t) > 1000) continue;
      const d = (e.seq - o.seq + 65536) % 65536;
      votes.set(d, (votes.get(d) ?? 0) + 1);
    }
  }
  let best = 0;
  let bestVotes = -1;
  for (const [d, v] of votes) {
    if (v > bestVotes) {
      best = d;
      bestVotes = v;
    }
  }
  if (bestVotes <= 0) throw new Error('no packet seen by both subscribers');
  return best;
}

export async function measureHopLatency(
  opts: {
    /** A link to the process that drives `node` (its agent, or the one bridge). */
    connect: (node: string) => Promise<BridgeClient>;
    edge: string;
    stream: string;
    durationMs: number;
    cleanup: Cleanup;
  },
): Promise<HopResult> {
  const bc = await opts.connect('origin');
  const edgeBc = await opts.connect(opts.edge);
  const pub = new WeriftPublisher({ audio: true, video: 'vp8' });
  const subs: WeriftSubscriber[] = [];
  const done = opts.cleanup.add('hop-latency peers', async () => {
    for (const s of subs) await s.close();
    await pub.close();
    await bc.close();
    await edgeBc.close();
  });
  try {
    // The requester names what it creates (protocol/api.ts): the publish's and plays' ids are ours.
    const publishId = newMediaId('pub');
    const published = await bc.request('publish', { publishId, node: 'origin', stream: opts.stream, sdp: await pub.offer() });
    await pub.accept(published.sdp);
    await bc.waitForEvent('PUBLISHING', isPublisherEvent(publishId, 'PUBLISHING'), { timeoutMs: 15_000 });

    const arrivals: Record<'origin' | 'edge', Arrival[]> = { origin: [], edge: [] };
    for (const [which, node] of [['origin', 'origin'], ['edge', opts.edge]] as const) {
      const sub = new WeriftSubscriber();
      subs.push(sub);
      recordVideo(sub, arrivals[which]);
      const playId = newMediaId('play');
      const link = which === 'origin' ? bc : edgeBc;
      const play = await link.request('play', { playId, node, stream: opts.stream });
      await link.request('answer', { playId, sdp: await sub.answer(play.sdp) });
      await sub.media({ video: true, keyframe: true, timeoutMs: 15_000 });
    }
    // Measure from a common start, once both receive.
    const start = performance.now();
    await sleep(opts.durationMs);
    const end = performance.now();
    const origin = arrivals.origin.filter((a) => a.t >= start - 1000 && a.t <= end);
    const edge = arrivals.edge.filter((a) => a.t >= start && a.t <= end);
    const offset = seqOffset(origin, edge);
    const originBySeq = new Map(origin.map((a) => [a.seq, a]));
    const deltas: number[] = [];
    for (const e of edge) {
      const o = originBySeq.get((e.seq - offset + 65536) % 65536);
      if (o !== undefined && o.key === e.key) deltas.push(e.t - o.t);
    }
    await withTimeout(bc.request('unpublish', { publishId }), 10_000, 'unpublish').catch(() => undefined);
    return {
      edge: opts.edge,
      durationMs: round(end - start, 0),
      summary: roundSummary(summarize(deltas), 2),
      matched: deltas.length,
      originPackets: origin.length,
      edgePackets: edge.length,
      seqOffset: offset,
    };
  } finally {
    await done();
  }
}

