/**
 * Fuzzing the public API against the real stack (Janus origin + 2 edges, one agent per node, wrangler dev)
 * in the test's network namespace, with token keys configured and the default limits (except
 * sessions per address, raised: every client here is 127.0.0.1):
 *
 *   - more than 10,000 malformed inputs at the WCS WebSocket (random and mutated frames, wrong
 *     types, huge strings, deep nesting, binary frames, SDP the worker refuses), each answered by
 *     an error frame or a FAILED status, paced under the per-session rate limit;
 *   - hostile SDP that the worker lets through to Janus (publishes and plays with valid tokens):
 *     each refused, or accepted then released;
 *   - floods (closed with 4429) and frames of megabytes (a fail naming the limit);
 *   - a few thousand bad HTTP requests (/lb with bad params and tokens, WHIP/WHEP without or with
 *     wrong tokens, bad content types, unknown sessions and refused offers, /health, unknown
 *     paths, methods and hosts), each with its 4xx;
 *
 * while one session keeps publishing (werift, through the origin) and another keeps playing it on
 * edge-1 (server-offer flow). Asserted: no process died or restarted, every bad input got its
 * answer, the good sessions stayed PUBLISHING/PLAYING and kept receiving RTP, no secret appeared in
 * any answer, and Janus's rooms, participants, remote publishers and handles are back to what they
 * were before. The counts go to .fanout/fuzz-results.json. FANOUT_FUZZ_SEED replays a run.
 *
 * Over 500 lines on purpose: the fuzz cases share one stack and the before/after Janus counts that
 * show nothing leaked, which a split would start and count once per file.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import * as v from 'valibot';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenClaims, signToken } from '../../worker/auth/token.ts';
import { Rng, badHttpInput, badWsInput, hugeWsInput, janusHostileSdp, workerRefusedSdp, type HttpInput, type HttpTokens, type WsInput } from '../harness/fuzz-inputs.ts';
import { JanusAdmin, JanusInspector } from '../harness/janus-inspect.ts';
import { isAlive } from '../harness/processes.ts';
import { ROOT, Stack } from '../harness/stack.ts';
import { until, WeriftPublisher, WeriftSubscriber } from '../harness/werift-peer.ts';
import { errorText, readServerFrame, type ClientFrame, type ServerFrame } from '../../protocol/index.ts';

const SEED = Number(process.env['FANOUT_FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const WS_INPUTS = 10_400;
const WS_WORKERS = 48;
const INPUTS_PER_SESSION = 60;
const HTTP_INPUTS = 3_000;
const HTTP_WORKERS = 16;
/** Frames per second one fuzz session sends: under the default limit of 50. */
const PACE_MS = 25;
const WORKER = 'ws://127.0.0.1:8787';
const WORKER_HTTP = { host: '127.0.0.1', port: 8787 };
const JANUS_PORTS = { origin: 8188, 'edge-1': 8189, 'edge-2': 8190 } as const;
type NodeId = keyof typeof JANUS_PORTS;
const NODE_IDS = Object.keys(JANUS_PORTS) as NodeId[];
const ADMIN_PORT_OFFSET = 1000;
const GOOD = 'fuzz-good';
const RESULTS = join(ROOT, '.fanout', 'fuzz-results.json');
/** Every fuzzer stops starting new inputs after this long (the run stays bounded whatever happens). */
const FUZZ_BUDGET_MS = 120_000;
let deadline = Number.POSITIVE_INFINITY;
const overBudget = (): boolean => Date.now() > deadline;
/** The fuzzers still running (named in the progress lines, so a stuck one shows). */
const running = new Set<string>();
async function tracked(name: string, run: () => Promise<void>): Promise<void> {
  running.add(name);
  try {
    await run();
  } finally {
    running.delete(name);
  }
}

const KEY = randomBytes(32).toString('base64url');
const OLD_KEY = randomBytes(32).toString('base64url');
const STRANGER_KEY = randomBytes(32).toString('base64url');

let stack: Stack;
let secrets: { bridgeSecret: string; janusApiSecret: string };
/** Each node's agent credential: never to be carried by an answer either. */
let agentCredentials: ReadonlyArray<readonly [string, string]> = [];
const inspectors = new Map<NodeId, JanusInspector>();
const admins = new Map<NodeId, JanusAdmin>();

// ---------------------------------------------------------------- bookkeeping

interface Tally {
  sent: number;
  answered: number;
  unexpected: number;
}
const byKind = new Map<string, Tally & { outcomes: Record<string, number> }>();
const unexpectedSamples: string[] = [];
/** Hostile SDPs Janus took more than 5 s to refuse (kept for the report). */
const slowJanus: Array<{ ms: number; info: string; sdp: string }> = [];
let leaks = 0;
const leakSamples: string[] = [];

function tally(kind: string, outcome: string, ok: boolean, detail?: () => string): void {
  let t = byKind.get(kind);
  if (t === undefined) byKind.set(kind, (t = { sent: 0, answered: 0, unexpected: 0, outcomes: {} }));
  t.sent++;
  t.outcomes[outcome] = (t.outcomes[outcome] ?? 0) + 1;
  if (ok) t.answered++;
  else {
    t.unexpected++;
    if (unexpectedSamples.length < 30) unexpectedSamples.push(`${kind}: ${outcome}: ${detail?.() ?? ''}`.slice(0, 400));
  }
}

/** Every answer is checked for the secrets it must never carry. */
function checkLeak(where: string, text: string): void {
  const named: ReadonlyArray<readonly [string, string]> = [
    ['BRIDGE_SECRET', secrets.bridgeSecret],
    ['JANUS_API_SECRET', secrets.janusApiSecret],
    ['token key', KEY],
    ['old token key', OLD_KEY],
    ...agentCredentials.map(([node, c]) => [`credential of the agent of ${node}`, c] as const),
  ];
  for (const [name, secret] of named) {
    if (secret !== '' && text.includes(secret)) {
      leaks++;
      if (leakSamples.length < 10) leakSamples.push(`${where} carried the ${name}`);
    }
  }
}

/** A token (for GOOD unless the claims name a prefix), valid for an hour unless they say otherwise. */
function token(claims: Partial<TokenClaims>, key = KEY): Promise<string> {
  const target = claims.prefix === undefined ? { stream: GOOD } : {};
  return signToken(key, v.parse(TokenClaims, { v: 1, act: 'play', exp: Math.floor(Date.now() / 1000) + 3600, ...target, ...claims }));
}

// ---------------------------------------------------------------- a raw WCS client

/**
 * What a session saw: a frame that checks against the shared `ServerFrame` schemas
 * (protocol/wcs.ts), one that does not (a defect: counted as unexpected), or the close.
 */
type Event = ({ kind: 'frame' } & ServerFrame) | { kind: 'invalid'; text: string } | { kind: 'close'; code: number; reason: string };

/**
 * A WCS session over a bare WebSocket: sends anything (the fuzz inputs are malformed on purpose;
 * the good requests are built as the shared `ClientFrame`), answers pings, queues everything else.
 */
class RawWcs {
  readonly node: string;
  readonly ws: WebSocket;
  readonly events: Event[] = [];
  #read = 0;
  #wake: (() => void) | undefined;
  closed: { code: number; reason: string } | undefined;

  private constructor(node: string, ws: WebSocket) {
    this.node = node;
    this.ws = ws;
    ws.on('message', (raw, isBinary) => {
      const text = raw.toString();
      checkLeak(`a frame on ${node}`, text);
      const read = isBinary ? undefined : readServerFrame(text);
      if (read?.kind !== 'frame') {
        this.events.push({ kind: 'invalid', text: `${read?.kind === 'invalid' ? read.problem : 'binary or unknown'}: ${text.slice(0, 100)}` });
      } else if (read.frame.message === 'ping') {
        this.frame({ message: 'pong', data: [] });
        return;
      } else {
        this.events.push({ kind: 'frame', ...read.frame });
      }
      this.#wake?.();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.events.push({ kind: 'close', code, reason: reason.toString() });
      this.#wake?.();
    });
    ws.on('error', () => undefined);
  }

  static async open(node: string): Promise<RawWcs> {
    const ws = new WebSocket(`${WORKER}/node/${node}/ws`, { maxPayload: 4 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${node}: no WebSocket within 10 s`)), 10_000);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`${node}: HTTP ${res.statusCode} instead of a WebSocket`));
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    return new RawWcs(node, ws);
  }

  send(data: string | Uint8Array): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (typeof data === 'string') this.ws.send(data);
    else this.ws.send(data, { binary: true });
  }

  /** A well-formed request. */
  frame(frame: ClientFrame): void {
    this.send(JSON.stringify(frame));
  }

  /** The next unread event (frames other than pings, or the close), or undefined after `timeoutMs`. */
  async next(timeoutMs: number): Promise<Event | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.#read >= this.events.length) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    return this.events[this.#read++];
  }

  /** Reads events until `pick` returns a value; undefined after `timeoutMs`. */
  async until<T>(pick: (e: Event) => T | undefined, timeoutMs: number): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = await this.next(Math.max(0, deadline - Date.now()));
      if (e === undefined) return undefined;
      const hit = pick(e);
      if (hit !== undefined) return hit;
    }
  }

  async connect(fields: Record<string, unknown>): Promise<void> {
    // `fields` may be malformed on purpose (a token of the wrong type): sent as they are.
    this.send(JSON.stringify({ message: 'connection', data: [{ appKey: 'defaultApp', mediaProviders: ['WebRTC'], clientVersion: '2.0', keepAlive: false, ...fields }] }));
    const user = await this.until((e) => (e.kind === 'close' || (e.kind === 'frame' && e.message === 'getUserData') ? e : undefined), 10_000);
    if (user?.kind !== 'frame') throw new Error(`${this.node}: no getUserData (${JSON.stringify(user)})`);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, 'fuzz done');
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }
}

const isError = (e: Event | undefined): boolean =>
  e?.kind === 'frame' && (e.message === 'fail' || (e.message === 'notifyStreamStatusEvent' && e.data[0].status === 'FAILED'));

/** The kind of answer, for the tallies. */
const outcome = (e: Event | undefined): string => (e === undefined ? 'no answer' : e.kind === 'close' ? `close ${e.code}` : e.kind === 'invalid' ? '!invalid' : e.message);

const describeEvent = (e: Event | undefined): string =>
  e === undefined ? 'no answer' : e.kind === 'close' ? `close ${e.code}` : e.kind === 'invalid' ? `!invalid ${e.text}` : `${e.message} ${JSON.stringify(e.data).slice(0, 200)}`;

/** The status (or `fail`) that ends stream `id`, from here on. */
function terminal(e: Event, id: string): { status: string; info: string } | undefined {
  if (e.kind === 'close') return { status: `closed ${e.code}`, info: e.reason };
  if (e.kind !== 'frame') return undefined;
  if (e.message === 'notifyStreamStatusEvent' && e.data[0].mediaSessionId === id) return { status: e.data[0].status, info: e.data[0].info ?? '' };
  if (e.message === 'fail' && e.data[0].id === id) return { status: 'FAILED', info: e.data[0].info };
  return undefined;
}

// ---------------------------------------------------------------- the good sessions

interface Good {
  publisher: RawWcs;
  player: RawWcs;
  pub: WeriftPublisher;
  sub: WeriftSubscriber;
  pubId: string;
  playId: string;
}

async function startGood(): Promise<Good> {
  // The publisher's token is signed with the old key, the player's with the new one: both are accepted during a rotation.
  const publisher = await RawWcs.open('origin');
  await publisher.connect({ authToken: await token({ act: 'publish' }, OLD_KEY) });
  const pub = new WeriftPublisher({ video: 'vp8', keyframeIntervalMs: 1000 });
  const pubId = randomUUID();
  publisher.frame({ message: 'publishStream', data: [{ mediaSessionId: pubId, name: GOOD, published: true, hasVideo: true, hasAudio: true, mediaProvider: 'WebRTC', sdp: await pub.offer() }] });
  const answer = await publisher.until((e) => (e.kind === 'frame' && e.message === 'setRemoteSDP' && e.data[0] === pubId ? e.data[1] : undefined), 15_000);
  if (answer === undefined) throw new Error(`publisher: no answer: ${publisher.events.map((e) => describeEvent(e)).join(' | ')}`);
  await pub.accept(answer);
  const publishing = await publisher.until((e) => terminal(e, pubId), 15_000);
  expect(publishing?.status).toBe('PUBLISHING');

  const player = await RawWcs.open('edge-1');
  await player.connect({ custom: { token: await token({ act: 'play', node: 'edge-1' }) } });
  const sub = new WeriftSubscriber();
  const playId = randomUUID();
  let offer: string | undefined;
  for (let attempt = 0; offer === undefined && attempt < 20; attempt++) {
    // The cascade to edge-1 may still be on its way: "CDN stream not found" until it is.
    player.frame({ message: 'playStream', data: [{ mediaSessionId: playId, name: GOOD, published: false, mediaProvider: 'WebRTC' }] });
    const r = await player.until((e) => (e.kind === 'frame' && e.message === 'setRemoteSDP' && e.data[0] === playId ? { sdp: e.data[1] } : terminal(e, playId)), 15_000);
    if (r !== undefined && 'sdp' in r) offer = r.sdp;
    else await new Promise((res) => setTimeout(res, 250));
  }
  if (offer === undefined) throw new Error('player: no offer from edge-1');
  player.frame({ message: 'setRemoteSDP', data: [playId, await sub.answer(offer)] });
  const playing = await player.until((e) => terminal(e, playId), 15_000);
  expect(playing?.status).toBe('PLAYING');
  await sub.media({ audio: true, video: true, timeoutMs: 15_000 });
  return { publisher, player, pub, sub, pubId, playId };
}

/** Statuses the good sessions were told since they started playing/publishing (must stay empty). */
function goodTrouble(g: Good): string[] {
  const out: string[] = [];
  for (const [conn, id] of [[g.publisher, g.pubId], [g.player, g.playId]] as const) {
    for (const e of conn.events) {
      const t = terminal(e, id);
      if (t !== undefined && t.status !== 'PUBLISHING' && t.status !== 'PLAYING') out.push(`${conn.node}: ${t.status} ${t.info}`);
      if (e.kind === 'frame' && e.message === 'fail') out.push(`${conn.node}: fail ${JSON.stringify(e.data)}`);
    }
    if (conn.closed !== undefined) out.push(`${conn.node}: closed ${conn.closed.code} ${conn.closed.reason}`);
  }
  return out;
}

// ---------------------------------------------------------------- Janus state

interface JanusCounts {
  rooms: number;
  participants: number;
  remotes: number;
  handles: number;
}

async function janusCounts(): Promise<Record<NodeId, JanusCounts>> {
  const out = {} as Record<NodeId, JanusCounts>;
  for (const node of NODE_IDS) {
    const inspector = inspectors.get(node);
    const admin = admins.get(node);
    if (inspector === undefined || admin === undefined) throw new Error(`no inspector for ${node}`);
    const rooms = await inspector.fanoutRooms();
    let remotes = 0;
    for (const room of rooms) {
      for (const p of room.participants.filter((x) => x.publisher && x.remote !== true)) {
        remotes += (await inspector.remotes(room.room, p.id).catch(() => [])).length;
      }
    }
    out[node] = { rooms: rooms.length, participants: rooms.reduce((n, r) => n + r.participants.length, 0), remotes, handles: (await admin.handles()).length };
  }
  return out;
}

// ---------------------------------------------------------------- the fuzzers

const pace = async (last: number): Promise<number> => {
  const wait = last + PACE_MS - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  return Date.now();
};

/** Connection fields for a session that may not publish or play what the inputs ask for. */
async function uselessToken(r: Rng): Promise<{ variant: string; fields: Record<string, unknown> }> {
  switch (r.int(0, 7)) {
    case 0:
      return { variant: 'none', fields: {} };
    case 1:
      return { variant: 'expired', fields: { authToken: await token({ act: ['publish', 'play'], prefix: '', exp: Math.floor(Date.now() / 1000) - 60 }) } };
    case 2:
      return { variant: 'forged', fields: { authToken: await token({ act: ['publish', 'play'], prefix: '' }, STRANGER_KEY) } };
    case 3:
      return { variant: 'garbage', fields: { authToken: r.text(r.int(1, 200)) } };
    case 4:
      return { variant: 'huge', fields: { authToken: 'A'.repeat(r.int(2049, 60_000)) } };
    case 5:
      return { variant: 'custom-not-string', fields: { custom: { token: r.pick<unknown>([1, {}, [], true, null]) } } };
    case 6:
      return { variant: 'other-prefix', fields: { authToken: await token({ act: 'publish', prefix: 'zz-' }) } };
    default:
      return { variant: 'other-node', fields: { authToken: await token({ act: ['publish', 'play'], prefix: '', node: 'edge-9' }) } };
  }
}

/** One fuzz worker: sessions of INPUTS_PER_SESSION bad inputs each, one at a time, each answered before the next. */
async function wsWorker(w: number, inputs: number, sdp: string): Promise<void> {
  const r = new Rng(SEED + w * 7919);
  let seq = w * 1_000_000;
  let quota = inputs;
  while (quota > 0 && !overBudget()) {
    const node = r.pick(NODE_IDS);
    let conn: RawWcs;
    try {
      conn = await RawWcs.open(node);
      const { variant, fields } = await uselessToken(r);
      await conn.connect(fields);
      tally('session-setup', variant, true);
    } catch (err) {
      tally('session-setup', 'failed', false, () => errorText(err));
      continue;
    }
    let last = 0;
    for (let i = 0; i < INPUTS_PER_SESSION && quota > 0 && !overBudget(); i++, quota--) {
      const input: WsInput = badWsInput(r, sdp, seq++);
      last = await pace(last);
      conn.send(input.data);
      const answer = await conn.next(10_000);
      const ok = isError(answer);
      tally(input.kind, outcome(answer), ok, () => `${describeEvent(answer)} for ${typeof input.data === 'string' ? input.data.slice(0, 200) : `${input.data.byteLength} binary bytes`}`);
      if (answer?.kind === 'close' || conn.closed !== undefined) break;
    }
    conn.close();
  }
}

/** Stream requests on sessions that never sent `connection`: "Session not ready". */
async function beforeConnection(count: number, sdp: string): Promise<void> {
  const r = new Rng(SEED + 17);
  let conn = await RawWcs.open('origin');
  let last = 0;
  for (let i = 0; i < count && !overBudget(); i++) {
    if (i % 40 === 0) {
      conn.close();
      conn = await RawWcs.open(r.pick(NODE_IDS));
    }
    const id = `pre-${i}`;
    const frame = r.pick([
      { message: 'publishStream', data: [{ mediaSessionId: id, name: `fuzz-pre-${i}`, sdp }] },
      { message: 'playStream', data: [{ mediaSessionId: id, name: GOOD }] },
      { message: 'stopStream', data: [{ mediaSessionId: id }] },
      { message: 'setRemoteSDP', data: [id, sdp] },
    ]);
    last = await pace(last);
    conn.send(JSON.stringify(frame));
    const answer = await conn.next(10_000);
    tally('before-connection', answer?.kind === 'close' ? 'close' : outcome(answer), isError(answer), () => describeEvent(answer));
  }
  conn.close();
}

/**
 * Hostile SDP that passes the worker's checks, with valid tokens, so it reaches the node's agent and
 * Janus. Each one is refused (FAILED), or accepted and then released again (UNPUBLISHED/STOPPED).
 */
async function janusFuzzer(role: 'publish' | 'play-offer' | 'play-answer' | 'hijack', count: number, sdp: string, seed: number): Promise<void> {
  const r = new Rng(seed);
  const node = role === 'publish' || role === 'hijack' ? 'origin' : 'edge-2';
  const conn = await RawWcs.open(node);
  const claims: Partial<TokenClaims> = role === 'publish' ? { act: 'publish', prefix: 'fzj-' } : role === 'hijack' ? { act: 'publish' } : { act: 'play', prefix: '' };
  await conn.connect({ authToken: await token(claims) });
  let last = 0;
  for (let i = 0; i < count && !overBudget(); i++) {
    const id = `${role}-${i}-${randomUUID()}`;
    last = await pace(last);
    if (role === 'publish' || role === 'hijack') {
      const hostile = role === 'hijack' ? sdp : janusHostileSdp(r, sdp);
      const name = role === 'hijack' ? GOOD : `fzj-${seed.toString(36)}-${i}`;
      const sentAt = Date.now();
      conn.frame({ message: 'publishStream', data: [{ mediaSessionId: id, name, published: true, mediaProvider: 'WebRTC', sdp: hostile }] });
      const first = await conn.until((e) => (e.kind === 'frame' && e.message === 'setRemoteSDP' && e.data[0] === id ? { status: 'ANSWERED', info: '' } : terminal(e, id)), 20_000);
      if (first?.status === 'ANSWERED') {
        conn.frame({ message: 'unPublishStream', data: [{ mediaSessionId: id, name }] });
        const end = await conn.until((e) => terminal(e, id), 20_000);
        tally(`janus-${role}`, `accepted, then ${end?.status ?? 'nothing'}`, end?.status === 'UNPUBLISHED' || end?.status === 'FAILED', () => JSON.stringify(end));
      } else {
        const expected = role === 'hijack' ? first?.info === 'Stream name is already in use' : first?.status === 'FAILED';
        if (Date.now() - sentAt > 5000 && slowJanus.length < 5) slowJanus.push({ ms: Date.now() - sentAt, info: first?.info ?? '', sdp: hostile });
        tally(`janus-${role}`, first === undefined ? 'no answer' : `${first.status}: ${first.info.slice(0, 60)}`, expected, () => `${JSON.stringify(first)} for ${hostile.slice(0, 300)}`);
      }
      continue;
    }
    if (role === 'play-offer') {
      const hostile = janusHostileSdp(r, sdp);
      conn.frame({ message: 'playStream', data: [{ mediaSessionId: id, name: r.chance(0.85) ? GOOD : `fuzz-none-${i}`, published: false, mediaProvider: 'WebRTC', sdp: hostile }] });
      const first = await conn.until((e) => (e.kind === 'frame' && e.message === 'setRemoteSDP' && e.data[0] === id ? { status: 'ANSWERED', info: '' } : terminal(e, id)), 20_000);
      if (first?.status === 'ANSWERED') {
        conn.frame({ message: 'stopStream', data: [{ mediaSessionId: id }] });
        const end = await conn.until((e) => terminal(e, id), 20_000);
        tally('janus-play-offer', `accepted, then ${end?.status ?? 'nothing'}`, end?.status === 'STOPPED' || end?.status === 'FAILED', () => JSON.stringify(end));
      } else {
        tally('janus-play-offer', first === undefined ? 'no answer' : `${first.status}: ${first.info.slice(0, 60)}`, first?.status === 'FAILED', () => JSON.stringify(first));
      }
      continue;
    }
    // play-answer: Janus offers, the client answers with hostile SDP.
    conn.frame({ message: 'playStream', data: [{ mediaSessionId: id, name: GOOD, published: false, mediaProvider: 'WebRTC' }] });
    const offer = await conn.until((e) => (e.kind === 'frame' && e.message === 'setRemoteSDP' && e.data[0] === id ? { status: 'OFFER', info: e.data[1] } : terminal(e, id)), 20_000);
    if (offer?.status !== 'OFFER') {
      tally('janus-play-answer', `no offer: ${offer?.status ?? 'nothing'}`, false, () => JSON.stringify(offer));
      continue;
    }
    const workerRefuses = r.chance(0.25);
    const hostile = workerRefuses ? workerRefusedSdp(r, offer.info) : janusHostileSdp(r, offer.info);
    last = await pace(last);
    conn.frame({ message: 'setRemoteSDP', data: [id, hostile] });
    // Refused: FAILED, or a fail frame for the answer itself. Janus may also end the player at once
    // (STOPPED, e.g. on a DTLS alert). Accepted: no reply (PLAYING needs ICE), so the client stops it.
    const answer = await conn.until((e) => terminal(e, id) ?? (e.kind === 'frame' && e.message === 'fail' ? { status: 'fail', info: JSON.stringify(e.data) } : undefined), 3_000);
    if (answer !== undefined && answer.status !== 'fail') {
      tally('janus-play-answer', `${answer.status}: ${answer.info.slice(0, 60)}`, answer.status === 'FAILED' || answer.status === 'STOPPED', () => JSON.stringify(answer));
      continue;
    }
    last = await pace(last);
    conn.frame({ message: 'stopStream', data: [{ mediaSessionId: id }] });
    const end = await conn.until((e) => terminal(e, id), 20_000);
    tally('janus-play-answer', `${answer === undefined ? 'accepted' : 'refused'}, then ${end?.status ?? 'nothing'}`, end?.status === 'STOPPED' || end?.status === 'FAILED', () => JSON.stringify({ answer, end }));
  }
  conn.close();
}

/** Sessions that send far more than the rate limit at once: closed with 4429 after one fail. */
async function flood(sessions: number, frames: number): Promise<void> {
  await Promise.all(
    Array.from({ length: sessions }, async (_, s) => {
      const conn = await RawWcs.open(NODE_IDS[s % NODE_IDS.length] ?? 'origin');
      await conn.connect({});
      for (let i = 0; i < frames; i++) conn.send(i % 2 === 0 ? '{"message":"ping","data":[]}' : '{"message":"nope","data":[]}');
      await until('flood close', () => conn.closed !== undefined, 10_000).catch(() => undefined);
      const fails = conn.events.filter((e) => e.kind === 'frame' && e.message === 'fail' && JSON.stringify(e.data).includes('RESOURCE_EXHAUSTED'));
      const ok = conn.closed?.code === 4429 && fails.length === 1;
      for (let i = 0; i < frames; i++) tally('flood', ok ? 'session closed 4429' : `closed ${conn.closed?.code ?? 'never'}`, ok, () => describeEvent(conn.events.at(-1)));
      conn.close();
    }),
  );
}

/** Frames of megabytes: a fail naming the limit, or (past what the runtime takes at all) a close. */
async function huge(): Promise<void> {
  for (const bytes of [2 * 1024 * 1024, 8 * 1024 * 1024, 40 * 1024 * 1024]) {
    const conn = await RawWcs.open('origin');
    await conn.connect({});
    const input = hugeWsInput(bytes);
    conn.send(input.data);
    const answer = await conn.until((e) => (e.kind === 'close' ? e : e.kind === 'frame' && e.message === 'fail' ? e : undefined), 20_000);
    tally(input.kind, `${bytes >> 20} MiB: ${describeEvent(answer).slice(0, 60)}`, answer !== undefined, () => describeEvent(answer));
    conn.close();
  }
}

function http(input: HttpInput): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        ...WORKER_HTTP,
        method: input.method,
        path: input.path,
        headers: { Host: 'origin.localhost:8787', ...input.headers, ...(input.body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(input.body)) }) },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    // A request that carries Upgrade headers and lands on a node is accepted as a WebSocket.
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 101, body: '' });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(input.body);
  });
}

async function httpWorker(w: number, quota: number, tokens: HttpTokens, sdp: string): Promise<void> {
  const r = new Rng(SEED + 104_729 * (w + 1));
  for (let i = 0; i < quota && !overBudget(); i++) {
    const input = badHttpInput(r, tokens, sdp);
    try {
      const res = await http(input);
      checkLeak(`${input.method} ${input.path.slice(0, 60)}`, res.body);
      tally(`http-${input.kind}`, String(res.status), input.ok.includes(res.status), () => `${input.method} ${input.path.slice(0, 120)} ${JSON.stringify(input.headers).slice(0, 100)} -> ${res.status} ${res.body.slice(0, 200)}`);
    } catch (err) {
      tally(`http-${input.kind}`, 'error', false, () => `${input.method} ${input.path.slice(0, 120)}: ${errorText(err)}`);
    }
  }
}

// ---------------------------------------------------------------- the test

beforeAll(async () => {
  stack = await Stack.start({
    env: {
      FANOUT_TOKEN_KEYS: `${KEY},${OLD_KEY}`,
      // Every client here is 127.0.0.1; the per-address limit has its own test in worker/wcs/limits.test.ts.
      WCS_MAX_SESSIONS_PER_MINUTE: '0',
      FANOUT_JANUS_ADMIN_PORT_OFFSET: String(ADMIN_PORT_OFFSET),
    },
  });
  secrets = stack.secrets();
  agentCredentials = await Promise.all(Object.keys(stack.info().agentUrls).map(async (node) => [node, await stack.agentSecret(node)] as const));
  for (const node of NODE_IDS) {
    inspectors.set(node, await JanusInspector.connect(`ws://127.0.0.1:${JANUS_PORTS[node]}`, secrets.janusApiSecret));
    admins.set(node, await JanusAdmin.connect(`ws://127.0.0.1:${JANUS_PORTS[node] + ADMIN_PORT_OFFSET}`, secrets.janusApiSecret));
  }
}, 120_000);

afterAll(async () => {
  for (const i of inspectors.values()) await i.close();
  for (const a of admins.values()) a.close();
  await stack?.stop();
});

describe('the public API under fuzzing', () => {
  it('answers every bad input, crashes nothing, leaks nothing, and the good sessions keep streaming', { timeout: 240_000 }, async () => {
    const started = Date.now();
    const info = stack.info();
    const pidsBefore = info.children.map((c) => ({ name: c.name, pid: c.pid }));
    expect(stack.output).toContain('Access: signed tokens required');

    const good = await startGood();
    const template = new WeriftPublisher({ video: 'vp8' });
    const sdp = await template.offer();
    await template.close();
    // Let the cascade and the player settle before counting what Janus holds.
    await new Promise((r) => setTimeout(r, 1500));
    const before = await janusCounts();

    // The good sessions are sampled every 2 s while everything else runs: RTP must keep arriving.
    const samples: Array<{ at: number; video: number; audio: number }> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push({ at: Date.now() - started, video: good.sub.received.video, audio: good.sub.received.audio });
        await new Promise((r) => setTimeout(r, 2000));
      }
    })();

    const exp = Math.floor(Date.now() / 1000);
    const httpTokens = {
      expired: await token({ exp: exp - 10 }),
      forged: await token({}, STRANGER_KEY),
      publishOnly: await token({ act: 'publish' }),
      otherStream: await token({ stream: 'only-this-one' }),
      originPinned: await token({ node: 'origin' }),
      whipPublish: await token({ act: 'publish', prefix: 'fzh-' }),
    };
    const fuzzStart = Date.now();
    deadline = fuzzStart + FUZZ_BUDGET_MS;
    const progress = setInterval(() => {
      const line = [...byKind.entries()].reduce((n, [, t]) => n + t.sent, 0);
      console.log(`fuzz: ${Math.round((Date.now() - fuzzStart) / 1000)} s, ${line} inputs, running: ${[...running].join(' ')}; ${unexpectedSamples.length} unexpected${unexpectedSamples.length > 0 ? ` (last: ${unexpectedSamples.at(-1)?.slice(0, 200)})` : ''}`);
    }, 10_000);
    const perWorker = Math.ceil(WS_INPUTS / WS_WORKERS);
    await Promise.all([
      ...Array.from({ length: WS_WORKERS }, (_, w) => tracked(`ws${w}`, () => wsWorker(w, perWorker, sdp))),
      tracked('before-connection', () => beforeConnection(200, sdp)),
      ...[1, 2, 6, 7].map((n) => tracked(`janus-publish${n}`, () => janusFuzzer('publish', 30, sdp, SEED + n))),
      tracked('janus-play-offer', () => janusFuzzer('play-offer', 80, sdp, SEED + 3)),
      tracked('janus-play-answer', () => janusFuzzer('play-answer', 80, sdp, SEED + 4)),
      tracked('janus-hijack', () => janusFuzzer('hijack', 20, sdp, SEED + 5)),
      tracked('flood', () => flood(3, 400)),
      tracked('megabytes', () => huge()),
      ...Array.from({ length: HTTP_WORKERS }, (_, w) => tracked(`http${w}`, () => httpWorker(w, Math.ceil(HTTP_INPUTS / HTTP_WORKERS), httpTokens, sdp))),
    ]);
    const fuzzMs = Date.now() - fuzzStart;
    clearInterval(progress);

    // The good sessions are still there, still streaming.
    const videoAtEnd = good.sub.received.video;
    await new Promise((r) => setTimeout(r, 2000));
    sampling = false;
    await sampler;
    const trouble = goodTrouble(good);
    const videoAfter = good.sub.received.video;

    // Everything the fuzz made is released: Janus holds what it held before.
    let after = await janusCounts();
    const settle = Date.now() + 30_000;
    while (JSON.stringify(after) !== JSON.stringify(before) && Date.now() < settle) {
      await new Promise((r) => setTimeout(r, 500));
      after = await janusCounts();
    }

    const pidsAfter = stack.info().children.map((c) => ({ name: c.name, pid: c.pid }));
    const workerLog = readFileSync(join(stack.stateDir, 'logs', 'worker.log'), 'utf8');
    // workerd itself logs an "Uncaught" line when a client breaks the connection under it: a TCP
    // drop without a close handshake ("Network connection lost", cloudflare/workerd#5290) or a
    // frame over its own message limit (1009 "Message is too large"). Those are counted, not
    // failed on; any other error line is.
    const runtimeNoise = /Network connection lost|protocolError.statusCode = 1009/;
    const errorLines = workerLog.split('\n').filter((l) => /Uncaught|uncaught|Unhandled|internal error|"level":"error"/.test(l));
    const connectionLost = errorLines.filter((l) => runtimeNoise.test(l)).length;
    const uncaught = errorLines.filter((l) => !runtimeNoise.test(l));
    // Every node's agent logs on its own (the launcher's logs/agent-<node>.log): none may log an error.
    const agentErrors = NODE_IDS.flatMap((node) =>
      readFileSync(join(stack.stateDir, 'logs', `agent-${node}.log`), 'utf8')
        .split('\n')
        .filter((l) => /"level":(50|60)|"level":"(error|fatal)"/.test(l))
        .map((l) => `${node}: ${l}`),
    );

    const kinds = Object.fromEntries([...byKind.entries()].sort(([a], [b]) => a.localeCompare(b)));
    const sum = (filter: (k: string) => boolean, key: keyof Tally): number => [...byKind.entries()].filter(([k]) => filter(k)).reduce((n, [, t]) => n + t[key], 0);
    const isWsBad = (k: string): boolean => k !== 'session-setup' && !k.startsWith('http-') && !k.startsWith('janus-') && k !== 'flood' && k !== 'megabytes';
    const windows = samples.slice(1).map((s, i) => s.video - (samples[i]?.video ?? 0));
    const results = {
      seed: SEED,
      durationMs: Date.now() - started,
      fuzzMs,
      websocket: {
        malformed: { sent: sum(isWsBad, 'sent'), answeredWithError: sum(isWsBad, 'answered'), unexpected: sum(isWsBad, 'unexpected') },
        reachingJanus: { sent: sum((k) => k.startsWith('janus-'), 'sent'), settled: sum((k) => k.startsWith('janus-'), 'answered'), unexpected: sum((k) => k.startsWith('janus-'), 'unexpected') },
        flood: { frames: sum((k) => k === 'flood', 'sent'), closedAsExpected: sum((k) => k === 'flood', 'answered') },
        megabytes: { sent: sum((k) => k === 'megabytes', 'sent'), answered: sum((k) => k === 'megabytes', 'answered') },
        sessions: sum((k) => k === 'session-setup', 'sent'),
      },
      http: { sent: sum((k) => k.startsWith('http-'), 'sent'), answeredAsExpected: sum((k) => k.startsWith('http-'), 'answered'), unexpected: sum((k) => k.startsWith('http-'), 'unexpected') },
      byKind: kinds,
      unexpectedSamples,
      slowJanus,
      leaks: { count: leaks, samples: leakSamples },
      good: { trouble, videoPackets: { atFuzzEnd: videoAtEnd, after: videoAfter }, minVideoPerWindow: Math.min(...windows), samples },
      janus: { before, after },
      processes: { before: pidsBefore, after: pidsAfter, allAlive: pidsAfter.every((p) => isAlive(p.pid)) },
      logs: { workerUncaught: uncaught.slice(0, 20), workerRuntimeConnectionErrors: connectionLost, agentErrors: agentErrors.slice(0, 20) },
    };
    mkdirSync(join(ROOT, '.fanout'), { recursive: true });
    writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
    console.log(
      `fuzz (seed ${SEED}, ${Math.round(results.durationMs / 1000)} s): WebSocket ${results.websocket.malformed.sent} malformed (${results.websocket.malformed.answeredWithError} answered with an error), ` +
        `${results.websocket.reachingJanus.sent} hostile SDP through to Janus (${results.websocket.reachingJanus.settled} settled), ${results.websocket.flood.frames} flood frames, ` +
        `${results.websocket.megabytes.sent} of megabytes; HTTP ${results.http.sent} (${results.http.answeredAsExpected} as expected); ` +
        `good player +${videoAfter - (samples[0]?.video ?? 0)} video packets (min ${results.good.minVideoPerWindow} per 2 s); leaks ${leaks}; details in ${RESULTS}`,
    );
    await good.pub.close();
    await good.sub.close();
    good.publisher.close();
    good.player.close();

    expect(unexpectedSamples).toEqual([]);
    expect(results.websocket.malformed.sent).toBeGreaterThanOrEqual(10_000);
    expect(results.websocket.malformed.answeredWithError).toBe(results.websocket.malformed.sent);
    expect(results.websocket.reachingJanus.settled).toBe(results.websocket.reachingJanus.sent);
    expect(results.websocket.flood.closedAsExpected).toBe(results.websocket.flood.frames);
    expect(results.websocket.megabytes.answered).toBe(results.websocket.megabytes.sent);
    expect(results.http.sent).toBeGreaterThanOrEqual(HTTP_INPUTS);
    expect(results.http.answeredAsExpected).toBe(results.http.sent);
    expect(leakSamples).toEqual([]);
    // A hostile SDP must not hold a Janus handle for long: each is refused (or accepted) within 5 s.
    expect(slowJanus).toEqual([]);
    expect(trouble).toEqual([]);
    expect(results.good.minVideoPerWindow).toBeGreaterThan(0);
    expect(videoAfter).toBeGreaterThan(videoAtEnd);
    expect(after).toEqual(before);
    expect(pidsAfter).toEqual(pidsBefore);
    expect(results.processes.allAlive).toBe(true);
    expect(stack.running).toBe(true);
    expect(stack.output).not.toMatch(/restarting|exited with|killed by/);
    expect(uncaught).toEqual([]);
    expect(agentErrors).toEqual([]);
  });
});
