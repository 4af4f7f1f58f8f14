/**
 * Events go where they belong (issue 15, point 4): a player's join reaches only the sessions and
 * coordinators it concerns. With 200 idle WCS sessions open, each holding its own link to its
 * node's agent (a session opens one as soon as it connects), players join a stream one by one, and
 * the test measures what that cost everyone else:
 * - the WCS frames the idle sessions got meanwhile, other than the server's pings: must be 0;
 * - the `node` events pushed per join, summed over every agent (each agent's
 *   `fanout_api_events_sent_total{event="node"}`, one count per link): must stay a handful,
 *   whatever the number of open sessions, since only the Balancer's links ask for them. When every
 *   link got them, it was 200 or more per join.
 *
 * Real stack: Janus, one agent per node, and workerd through the launcher, werift peers for the media.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../harness/stack.ts';
import { playWerift, publishWerift, WcsClient } from '../harness/wcs-client.ts';
import type { WeriftPublisher, WeriftSubscriber } from '../harness/werift-peer.ts';

const NODE_IDS = ['origin', 'edge-1', 'edge-2'] as const;
const EDGES = ['edge-1', 'edge-2'] as const;
const WORKER = 'http://127.0.0.1:8787';
const IDLE_SESSIONS = 200;
/** Sessions connected at once while opening the idle ones: modest, the machine has 2 cores. */
const CONNECT_BATCH = 10;
const SETUP_BUDGET_MS = 120_000;
const PLAYERS = 10;
/** After each join, time for its load change to reach the agents' counters before the next scrape. */
const JOIN_SETTLE_MS = 500;
/** Per join: one edge's load changes once, told to the Balancer's link; a few more is slack, 200 is the defect. */
const MAX_NODE_EVENTS_PER_JOIN = 4;

let stack: Stack | undefined;
/** Everything the test opened, closed in afterAll whatever happened. */
const sessions: WcsClient[] = [];
const peers: Array<WeriftPublisher | WeriftSubscriber> = [];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Every node's agent (each serves its own node's /metrics). */
function agentUrls(): string[] {
  if (stack === undefined) throw new Error('no stack');
  return [...new Set(Object.values(stack.info().agentUrls))];
}

/** One agent's /metrics text (the launcher sets no metrics token; FANOUT_METRICS_TOKEN is cleared below). */
async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}/metrics: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return text;
}

/** A sample summed over every agent: what the CDN did, whichever agent did it. */
async function total(metric: string, labels = ''): Promise<number> {
  const texts = await Promise.all(agentUrls().map(scrape));
  return texts.reduce((sum, text) => sum + sample(text, metric, labels), 0);
}

/**
 * A sample's value. The metric's HELP line must be there (a renamed metric fails the test instead of
 * reading as 0); a labelled sample not yet counted reads as 0, as prom-client prints none.
 */
function sample(text: string, metric: string, labels = ''): number {
  if (!text.includes(`# HELP ${metric} `)) throw new Error(`an agent's /metrics has no ${metric}`);
  const line = text.split('\n').find((l) => l.startsWith(`${metric}${labels} `));
  if (line === undefined) return 0;
  const value = Number(line.slice(`${metric}${labels} `.length));
  if (!Number.isFinite(value)) throw new Error(`unreadable sample: ${line}`);
  return value;
}

function nodeEventsSent(): Promise<number> {
  return total('fanout_api_events_sent_total', '{event="node"}');
}

/** Sessions whose agent link reported them open (one per link, see worker/metrics), over every agent. */
function sessionsWithLinks(): Promise<number> {
  return total('fanout_worker_sessions');
}

async function connect(node: string): Promise<WcsClient> {
  const c = await WcsClient.connect(node);
  sessions.push(c);
  return c;
}

/** Frames `c` received at index `from` or later, other than the server's pings; invalid ones count too. */
function framesBesidesPings(c: WcsClient, from: { received: number; invalid: number }): string[] {
  const valid = c.received.slice(from.received).filter((r) => r.frame.message !== 'ping');
  return [...valid.map((r) => JSON.stringify(r.frame).slice(0, 200)), ...c.invalid.slice(from.invalid)];
}

beforeAll(async () => {
  // Every client here comes from 127.0.0.1: no per-address session limit. No metrics token, even
  // if the shell has one, so that /metrics answers without one.
  stack = await Stack.start({ env: { WCS_MAX_SESSIONS_PER_MINUTE: '0', FANOUT_METRICS_TOKEN: '' } });
}, 150_000);

afterAll(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close().catch(() => undefined)));
  // Closed in batches: each close waits for its handshake, and 200 at once would crowd 2 cores.
  const all = sessions.splice(0);
  for (let i = 0; i < all.length; i += 25) await Promise.all(all.slice(i, i + 25).map((c) => c.close().catch(() => undefined)));
  await stack?.stop();
}, 120_000);

describe('node events with 200 idle WCS sessions open', () => {
  it('a player joining sends no frame to unrelated sessions and a handful of node events, not one per link', async () => {
    // ---- 200 idle sessions, spread over every node, each with its own link to its node's agent.
    const deadline = Date.now() + SETUP_BUDGET_MS;
    const idle: WcsClient[] = [];
    for (let batch = 0; idle.length < IDLE_SESSIONS; batch++) {
      if (Date.now() > deadline) throw new Error(`only ${idle.length} of ${IDLE_SESSIONS} idle sessions open after ${SETUP_BUDGET_MS} ms`);
      const size = Math.min(CONNECT_BATCH, IDLE_SESSIONS - idle.length);
      const opened = await Promise.all(Array.from({ length: size }, (_, i) => connect(NODE_IDS[(batch * CONNECT_BATCH + i) % NODE_IDS.length]!)));
      idle.push(...opened);
    }
    const perNode = Object.fromEntries(NODE_IDS.map((n) => [n, idle.filter((c) => c.node === n).length]));

    // ---- The publisher, and the players' sessions (opened now so that only the joins are measured).
    const name = `routing-${Date.now().toString(36)}`;
    const origin = await connect('origin');
    const { pub } = await publishWerift(origin, name);
    peers.push(pub);
    const players: WcsClient[] = [];
    for (let i = 0; i < PLAYERS; i++) players.push(await connect(EDGES[i % EDGES.length]!));

    // Every session's agent link is open (it reports its session when it opens): otherwise the
    // idle sessions would hear nothing whatever the agents send, and the test could not fail.
    const withLinks = IDLE_SESSIONS + 1 + PLAYERS;
    const linksDeadline = Date.now() + 20_000;
    while ((await sessionsWithLinks()) < withLinks) {
      if (Date.now() > linksDeadline) throw new Error(`only ${await sessionsWithLinks()} of ${withLinks} sessions have an agent link after 20 s`);
      await sleep(250);
    }
    // The Balancer's links ask for `nodes`: they are the ones that should hear the joins.
    expect((await fetch(`${WORKER}/node/origin/lb`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);

    // ---- The joins, one by one, each measured.
    const marks = idle.map((c) => ({ received: c.mark(), invalid: c.invalid.length }));
    const first = await nodeEventsSent();
    let last = first;
    const perJoin: number[] = [];
    for (const player of players) {
      const { sub } = await playWerift(player, name);
      peers.push(sub);
      await sleep(JOIN_SETTLE_MS);
      const now = await nodeEventsSent();
      perJoin.push(now - last);
      last = now;
    }
    const total = last - first;

    const unrelated = idle.flatMap((c, i) => framesBesidesPings(c, marks[i]!).map((f) => `${c.node} ${c.sessionId}: ${f}`));
    const closed = idle.filter((c) => c.closedWith !== undefined).map((c) => `${c.node} ${c.sessionId}: ${c.closedWith?.code}`);
    console.log(
      `[event-routing] ${IDLE_SESSIONS} idle sessions (${JSON.stringify(perNode)}), ${PLAYERS} joins: ` +
        `frames to idle sessions besides pings ${unrelated.length}; node events sent ${total} in all, per join ${JSON.stringify(perJoin)}`,
    );

    // The idle sessions stayed open (a closed one hears nothing, which proves nothing).
    expect(closed).toEqual([]);
    expect(unrelated).toEqual([]);
    // The counter does count node events: the joins changed the edges' load, and the Balancer heard it.
    expect(total).toBeGreaterThanOrEqual(1);
    for (const n of perJoin) expect(n).toBeLessThanOrEqual(MAX_NODE_EVENTS_PER_JOIN);
  }, 360_000);
});
