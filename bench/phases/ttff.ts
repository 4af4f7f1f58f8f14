/**
 * Time to first frame: a viewer's time from asking to the first presented video frame, through
 * Fanout (SDK: origin, redirect, edge) and straight on Janus (a raw Janus WebSocket to the same
 * edge's VideoRoom, subscribing to the same remote publisher), interleaved trial by trial in one
 * tab of headless Chromium, against one live publisher (another tab, Chromium's fake camera).
 *
 * Two shapes: one viewer at a time, with a pause between trials longer than the VideoRoom's
 * keyframe-request limit (one per second per remote publisher), so every viewer's keyframe request
 * is honoured; and bursts of 8 viewers asking at once, where only the first request of the burst
 * gets a keyframe at once and the rest wait for the next one.
 *
 * Then bursts on ONE edge (8 and 24 viewers: Fanout's players connect to that edge itself, plain
 * Janus's subscribe there), counting the viewers whose first frame came more than KEYFRAME_WAIT_MS
 * after their offer: those that waited for a keyframe (Janus grants one request a second).
 */
import type { BenchBrowser, BenchPage } from '../browser.ts';
import type { JanusPlayArgs, PlayResult } from '../page/bench-page.ts';
import { sleep, type Deadline } from '../lib/run.ts';
import { ratio, round, roundSummary, summarize, type Summary } from '../lib/stats.ts';

export interface TtffSide {
  /** ms from asking to the first frame, successful trials only, in run order. */
  samples: number[];
  summary: Summary;
  failures: string[];
  /** Trials per node that served them. */
  byNode: Record<string, number>;
  /** Median of each milestone (ms since asking), e.g. established, offer, playing. */
  medianMarks: Record<string, number>;
  /** `s=` of the server's SDP, by count: which plugin served the player. */
  sdpSessions: Record<string, number>;
  /**
   * From the player having the server's offer applied (its track event, mark "video") to the first
   * frame: answer, ICE, DTLS and the wait for a keyframe, without the signalling before the offer.
   * Separates a keyframe wait from signalling congestion.
   */
  offerToFrame: Summary;
  /** Every successful trial: ms to first frame, the node, and its milestones. */
  trials: Array<{ ms: number; node: string; marks: Record<string, number> }>;
}

export interface TtffComparison {
  fanout: TtffSide;
  janus: TtffSide;
  /** Fanout / Janus. */
  ratioP50: number;
  ratioP95: number;
}

/** Offer to first frame longer than this: the viewer waited for a keyframe, not for its handshake. */
export const KEYFRAME_WAIT_MS = 900;

export interface OneEdgeBurst extends TtffComparison {
  size: number;
  rounds: number;
  edge: string;
  /** Viewers whose first frame came more than KEYFRAME_WAIT_MS after their offer, of all that played. */
  keyframeWaits: { fanout: number; janus: number };
}

export interface TtffResult {
  sequential: TtffComparison & { trials: number; gapMs: number };
  burst: TtffComparison & { size: number; rounds: number; gapMs: number };
  oneEdge?: OneEdgeBurst[];
}

export interface TtffSetup {
  browser: BenchBrowser;
  /** ws:// URL of the origin's WCS API, as a browser uses it. */
  originUrl: string;
  stream: string;
  apiSecret: string;
  /** Janus API URL of each edge. */
  edgeJanus: Record<string, string>;
  /** ws:// URL of each edge's WCS API (the one-edge bursts play there). */
  edgeUrls: Record<string, string>;
  /** The stream's room and the remote publisher's id on each edge. */
  edgeFeeds: Record<string, { room: number; feed: number }>;
  deadline: Deadline;
  log(msg: string): void;
}

export interface TtffPlan {
  sequentialTrials: number;
  burstRounds: number;
  burstSize: number;
  /** Sizes of the bursts on one edge, and how many of each per path. */
  oneEdgeSizes: readonly number[];
  oneEdgeRounds: number;
  /** Pause after each trial (ms): longer than the 1/s keyframe-request limit. */
  gapMs: number;
  trialTimeoutMs: number;
}

function side(results: PlayResult[]): TtffSide {
  const ok = results.filter((r) => r.ok && r.ttffMs !== undefined);
  const samples = ok.map((r) => round(r.ttffMs ?? Number.NaN, 1));
  const byNode: Record<string, number> = {};
  const sdpSessions: Record<string, number> = {};
  const markLists: Record<string, number[]> = {};
  for (const r of ok) {
    if (r.node !== undefined && r.node !== '') byNode[r.node] = (byNode[r.node] ?? 0) + 1;
    // Room and mountpoint numbers differ per stream; keep the plugin's word.
    const session = r.sdpSession?.replace(/\s+\d+$/, ' #');
    if (session !== undefined) sdpSessions[session] = (sdpSessions[session] ?? 0) + 1;
    for (const [k, v] of Object.entries(r.marks)) (markLists[k] ??= []).push(v);
  }
  const medianMarks = Object.fromEntries(Object.entries(markLists).map(([k, v]) => [k, round(summarize(v).p50, 1)]));
  const offerToFrame = ok.flatMap((r) => (r.ttffMs !== undefined && r.marks['video'] !== undefined ? [r.ttffMs - r.marks['video']] : []));
  return {
    samples,
    summary: summarize(samples),
    failures: results.filter((r) => !r.ok).map((r) => r.error ?? 'failed'),
    byNode,
    medianMarks,
    sdpSessions,
    offerToFrame: roundSummary(summarize(offerToFrame), 1),
    trials: ok.map((r) => ({
      ms: round(r.ttffMs ?? Number.NaN, 1),
      node: r.node ?? '',
      marks: Object.fromEntries(Object.entries(r.marks).map(([k, v]) => [k, round(v, 1)])),
    })),
  };
}

function compare(f: PlayResult[], j: PlayResult[]): TtffComparison {
  const fanout = side(f);
  const janus = side(j);
  return { fanout, janus, ratioP50: ratio(fanout.summary.p50, janus.summary.p50), ratioP95: ratio(fanout.summary.p95, janus.summary.p95) };
}

export async function measureTtff(s: TtffSetup, plan: TtffPlan): Promise<TtffResult> {
  const edges = Object.keys(s.edgeFeeds).sort();
  if (edges.length === 0) throw new Error('no edge carries the stream');
  const janusArgs = (node: string): JanusPlayArgs => {
    const feed = s.edgeFeeds[node];
    const url = s.edgeJanus[node];
    if (feed === undefined || url === undefined) throw new Error(`no feed for ${node}`);
    return { url, apiSecret: s.apiSecret, room: feed.room, feed: feed.feed, node, timeoutMs: plan.trialTimeoutMs };
  };
  const fanoutArgs = { urlServer: s.originUrl, stream: s.stream, timeoutMs: plan.trialTimeoutMs };
  const page: BenchPage = await s.browser.newPage();
  const after = async (): Promise<void> => {
    await page.closeAll();
    await sleep(plan.gapMs);
  };

  // One at a time, alternating which path goes first; plain Janus plays on the edge Fanout used last.
  const seqF: PlayResult[] = [];
  const seqJ: PlayResult[] = [];
  let lastEdge = edges[0] ?? '';
  // Warm-up (not counted): the first play of a tab pays for loading codecs and the SDK's first socket.
  await page.fanoutPlay(fanoutArgs);
  await after();
  await page.janusPlay(janusArgs(lastEdge));
  await after();
  for (let i = 0; i < plan.sequentialTrials; i++) {
    if (!s.deadline.allows(60_000)) {
      s.log(`  ttff: stopping the one-at-a-time trials at ${i} of ${plan.sequentialTrials} (time budget)`);
      break;
    }
    const order = i % 2 === 0 ? ['fanout', 'janus'] : ['janus', 'fanout'];
    for (const which of order) {
      if (which === 'fanout') {
        const r = await page.fanoutPlay(fanoutArgs);
        seqF.push(r);
        if (r.node !== undefined && s.edgeFeeds[r.node] !== undefined) lastEdge = r.node;
      } else {
        seqJ.push(await page.janusPlay(janusArgs(lastEdge)));
      }
      await after();
    }
  }
  const sequential = { ...compare(seqF, seqJ), trials: seqF.length, gapMs: plan.gapMs };
  s.log(`  ttff one at a time: fanout p50 ${round(sequential.fanout.summary.p50)} ms, janus p50 ${round(sequential.janus.summary.p50)} ms (n=${seqF.length})`);

  // Bursts: N viewers ask in the same tick; plain Janus mirrors Fanout's last spread over the edges.
  const burstF: PlayResult[] = [];
  const burstJ: PlayResult[] = [];
  let spread: string[] = Array.from({ length: plan.burstSize }, (_, i) => edges[i % edges.length] ?? lastEdge);
  const burstGap = Math.max(plan.gapMs, 2000);
  let rounds = 0;
  for (let r = 0; r < plan.burstRounds; r++) {
    if (!s.deadline.allows(45_000)) {
      s.log(`  ttff: stopping the bursts at ${r} of ${plan.burstRounds} (time budget)`);
      break;
    }
    const order = r % 2 === 0 ? ['fanout', 'janus'] : ['janus', 'fanout'];
    for (const which of order) {
      if (which === 'fanout') {
        const got = await page.fanoutPlayMany({ ...fanoutArgs, timeoutMs: plan.trialTimeoutMs + 5000 }, plan.burstSize);
        burstF.push(...got);
        const nodes = got.map((g) => g.node ?? '').filter((n) => s.edgeFeeds[n] !== undefined);
        if (nodes.length === plan.burstSize) spread = nodes;
      } else {
        burstJ.push(...(await page.janusPlayMany(spread.map((n) => ({ ...janusArgs(n), timeoutMs: plan.trialTimeoutMs + 5000 })))));
      }
      await page.closeAll();
      await sleep(burstGap);
    }
    rounds++;
  }
  const burst = { ...compare(burstF, burstJ), size: plan.burstSize, rounds, gapMs: burstGap };
  s.log(`  ttff ${plan.burstSize} at once: fanout p50 ${round(burst.fanout.summary.p50)} ms, janus p50 ${round(burst.janus.summary.p50)} ms (n=${burstF.length})`);

  // Bursts on one edge: every viewer of both paths on the same node.
  const oneEdge: OneEdgeBurst[] = [];
  const edge = edges[0] ?? '';
  const edgeUrl = s.edgeUrls[edge];
  for (const size of edgeUrl === undefined ? [] : plan.oneEdgeSizes) {
    const f: PlayResult[] = [];
    const j: PlayResult[] = [];
    let done = 0;
    for (let r = 0; r < plan.oneEdgeRounds; r++) {
      if (!s.deadline.allows(45_000)) {
        s.log(`  ttff: stopping the one-edge bursts of ${size} at ${r} of ${plan.oneEdgeRounds} (time budget)`);
        break;
      }
      for (const which of r % 2 === 0 ? ['fanout', 'janus'] : ['janus', 'fanout']) {
        if (which === 'fanout') f.push(...(await page.fanoutPlayMany({ urlServer: edgeUrl ?? '', stream: s.stream, timeoutMs: plan.trialTimeoutMs + 5000 }, size)));
        else j.push(...(await page.janusPlayMany(Array.from({ length: size }, () => ({ ...janusArgs(edge), timeoutMs: plan.trialTimeoutMs + 5000 })))));
        await page.closeAll();
        await sleep(burstGap);
      }
      done++;
    }
    const c = compare(f, j);
    const waits = (side: TtffSide): number => side.trials.filter((t) => t.marks['video'] !== undefined && t.ms - (t.marks['video'] ?? 0) > KEYFRAME_WAIT_MS).length;
    const one: OneEdgeBurst = { ...c, size, rounds: done, edge, keyframeWaits: { fanout: waits(c.fanout), janus: waits(c.janus) } };
    oneEdge.push(one);
    s.log(`  ttff ${size} at once on ${edge}: fanout p50/p95 ${round(c.fanout.summary.p50)}/${round(c.fanout.summary.p95)} ms, janus ${round(c.janus.summary.p50)}/${round(c.janus.summary.p95)} ms; waited for a keyframe: fanout ${one.keyframeWaits.fanout} of ${c.fanout.trials.length}, janus ${one.keyframeWaits.janus} of ${c.janus.trials.length}`);
  }
  await page.page.close().catch(() => undefined);
  return { sequential, burst, oneEdge };
}
