/**
 * A scripted stand-in for the bridge's worker API, for tests of the worker's side alone (and for
 * trying the worker under `wrangler dev` without Janus). It speaks the real protocol (requests are
 * validated with `BridgeRequest`), authenticates the bearer secret, and answers from a script keyed
 * by stream name. Node only; listens on 127.0.0.1.
 *
 * Scenarios isolate tests from each other: `<base>/s/<scenario>` is a bridge URL of its own (its API
 * at `/s/<scenario>/api`) with its own node list, request log and connections. Plain `<base>` is the
 * scenario "default". Control endpoints (JSON):
 *   POST /s/<scenario>/config  {mode?, loadBalancing?, nodes?, streams?, graceMs?, bindDelayMs?, agentNode?, reports?}
 *            reports: false stops its `report` events (as a hung agent), true starts them again.
 *            agentNode: the scenario is that node's own agent, and takes that node's credential only.
 *                                 replace the scenario's node list / streams view / owner grace / bind delay
 *   POST /s/<scenario>/event   <BridgeEvent>                      push an event: `node` to the links
 *                                 that asked `nodes`, a publisher/player event to the link owning its id
 *   POST /s/<scenario>/drop                                       close its connections (1012, a restart)
 *   POST /s/<scenario>/kill    {refuseMs?}                        drop its connections abnormally (the
 *                                 worker sees 1006, as after kill -9), then refuse new ones for refuseMs
 *   POST /s/<scenario>/refuse  {ms}                               refuse new connections for ms (0: stop);
 *                                 open ones stay
 *   POST /s/<scenario>/end     {id, status, info}                 an id ends while its link is away
 *                                 (`bind` then reports it gone); an owned one gets its event
 *   GET  /s/<scenario>/log                                        what it received (see ScenarioLog)
 *
 * Links that move (protocol/api.ts): a connection closed with BRIDGE_RELEASE_CLOSE_CODE releases
 * its ids at once; one closed any other way leaves them orphaned for the scenario's grace
 * (BRIDGE_OWNER_GRACE_MS unless configured), for a `bind` to take over; then they are released.
 *
 * Ids are the worker's (the requester names what it creates): a publish carries its `publishId`, a
 * play its `playId`, registered as the request arrives; one already live is ALREADY_EXISTS.
 *
 * Script (by stream name prefix):
 *   publish  taken*       -> ALREADY_EXISTS          unavailable* -> UNAVAILABLE
 *            hang*        -> no answer until its unpublish, which ends it: the publish then
 *                            fails with FAILED_PRECONDITION, the unpublish answers {}
 *            badresult*   -> a result that breaks the schema
 *            early*       -> PUBLISHING pushed before the result
 *            failing*     -> result, then a FAILED event ("Failed by ICE timeout")
 *            anything else-> result, then PUBLISHING after 20 ms
 *            badsdp*      -> INVALID_ARGUMENT (as Janus refusing the offer)
 *   play     missing*     -> NOT_FOUND               wrongtype*   -> the other SDP type
 *            with sdp     -> answer, then PLAYING;  without sdp -> offer, PLAYING after `answer`
 *   unpublish/stop of an unknown id -> NOT_FOUND
 *   resource: true (WHIP/WHEP)  publish/play ids belong to the scenario, not the connection: they
 *            survive it, and unpublish/stop/trickle with resource: true act on them from any link
 *   trickle  unknown id -> NOT_FOUND; for a resource, a ufrag other than its offer's -> FAILED_PRECONDITION
 *   bind     an orphaned id, or one another link owns -> bound (this link's from now on); one ended
 *            by /end -> gone with that status and info; a resource or unknown id -> gone FAILED.
 *            Answered after the scenario's bindDelayMs (0 by default).
 *   streams  -> the configured streams, one history sample
 *   metrics  -> {}; the report goes to the log's `reports`, not `requests` (tests of the rest stay as they were)
 *   sources  -> nothing live (a stream record asking whether another origin holds a name)
 *   anything else -> INVALID_ARGUMENT naming it (never silence)
 *
 * Run by hand: `npx tsx worker/test-support/bridge-stand-in.ts [port]` (BRIDGE_SECRET from the env).
 *
 * Over 500 lines: it is one protocol peer, every request's script beside the others, and splitting
 * it would only scatter what a test reader looks up.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import * as v from 'valibot';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  BRIDGE_OWNER_GRACE_MS,
  BRIDGE_RELEASE_CLOSE_CODE,
  BalancingMode,
  BridgeEvent,
  BridgeRequest,
  errorText,
  issueText,
  NODE_REPORT_MS,
  NodeInfo,
  StreamInfo,
  secretsEqual,
  agentSecret,
  type BridgeRequest as BridgeRequestT,
  type NodeInfo as NodeInfoT,
} from '../../protocol/index.ts';

export const STAND_IN_ANSWER_SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=stand-in answer\r\nt=0 0\r\n';
export const STAND_IN_OFFER_SDP = 'v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=stand-in offer\r\nt=0 0\r\n';

export function defaultNodes(now = Date.now()): NodeInfoT[] {
  return [
    { id: 'origin', role: 'origin', host: 'origin.localhost:8787', up: true, since: now, load: { publishers: 0, subscribers: 0 } },
    { id: 'edge-1', role: 'edge', host: 'edge-1.localhost:8787', up: true, since: now, load: { publishers: 0, subscribers: 0 } },
    { id: 'edge-2', role: 'edge', host: 'edge-2.localhost:8787', up: true, since: now, load: { publishers: 0, subscribers: 0 } },
  ];
}

const ScenarioConfig = v.object({
  mode: v.optional(BalancingMode),
  loadBalancing: v.optional(v.boolean()),
  nodes: v.optional(v.array(NodeInfo)),
  streams: v.optional(v.array(StreamInfo)),
  graceMs: v.optional(v.pipe(v.number(), v.minValue(0))),
  bindDelayMs: v.optional(v.pipe(v.number(), v.minValue(0))),
  agentNode: v.optional(v.string()),
  reports: v.optional(v.boolean()),
});
const KillBody = v.object({ refuseMs: v.optional(v.pipe(v.number(), v.minValue(0))) });
const RefuseBody = v.object({ ms: v.pipe(v.number(), v.minValue(0)) });
const EndBody = v.object({ id: v.string(), status: v.picklist(['UNPUBLISHED', 'STOPPED', 'FAILED']), info: v.string() });
type Ended = Omit<v.InferOutput<typeof EndBody>, 'id'>;

export interface ScenarioLog {
  /** Every valid request, in order (but `metrics`). */
  requests: BridgeRequestT[];
  /** The worker's counters reports (`metrics` requests' params), in order. */
  reports: unknown[];
  /** Frames that failed validation (they got INVALID_ARGUMENT). */
  invalid: unknown[];
  connections: number;
  closed: number;
  /** Connections refused for a wrong or missing secret. */
  unauthorized: number;
  /** Ids still owned by open connections (what a close would release). */
  open: string[];
  /** Ids whose connection was lost (not released): they wait for a `bind` until the grace ends. */
  orphaned: string[];
  /** Ids released because their connection closed on purpose, or their grace ended unbound. */
  released: string[];
  /** Connections refused while refusing (/kill, /refuse). */
  refused: number;
}

interface Scenario {
  mode: v.InferOutput<typeof BalancingMode>;
  loadBalancing: boolean;
  nodes: NodeInfoT[];
  streams: v.InferOutput<typeof StreamInfo>[];
  sockets: Set<WebSocket>;
  log: Omit<ScenarioLog, 'open' | 'orphaned'>;
  owned: Map<WebSocket, Set<string>>;
  /** Ids of lost links, with the timer that releases them at the end of the grace. */
  orphans: Map<string, ReturnType<typeof setTimeout>>;
  /** Ids that ended while their link was away (/end), for `bind`. */
  ended: Map<string, Ended>;
  /** What each publish or play id is (for the events /end sends). */
  meta: Map<string, { kind: 'publish' | 'play'; stream: string }>;
  /** Links that asked `nodes`: the only ones `node` events and reports go to. */
  nodeWatchers: Set<WebSocket>;
  /** It sends a `report` to them every NODE_REPORT_MS (false: silent, as a hung agent). */
  reports: boolean;
  graceMs: number;
  bindDelayMs: number;
  /** Upgrades are refused (the socket destroyed, as a port nobody listens on) until then (epoch ms). */
  refuseUntil: number;
  /** The bearer it takes instead of the secret: its node's own credential (`agentNode`). */
  credential: string | undefined;
  /** Resource-owned ids (WHIP/WHEP), with the ice-ufrag of their offer. */
  resources: Map<string, string | undefined>;
  /** Ids whose publish has not been answered (hang*): ending one fails its request. */
  inflight: Map<string, () => void>;
}

export interface StandIn {
  /** The bridge URL of the default scenario, e.g. http://127.0.0.1:40123 */
  baseUrl: string;
  port: number;
  /** The bridge URL of a scenario. */
  url(scenario: string): string;
  close(): Promise<void>;
}

export async function startStandIn(opts: { secret: string; port?: number; host?: string }): Promise<StandIn> {
  const scenarios = new Map<string, Scenario>();
  const scenario = (name: string): Scenario => {
    let s = scenarios.get(name);
    if (s === undefined) {
      s = {
        mode: 'FEWESTCALLS',
        loadBalancing: true,
        nodes: defaultNodes(),
        streams: [],
        sockets: new Set(),
        log: { requests: [], reports: [], invalid: [], connections: 0, closed: 0, unauthorized: 0, released: [], refused: 0 },
        owned: new Map(),
        orphans: new Map(),
        ended: new Map(),
        meta: new Map(),
        nodeWatchers: new Set(),
        reports: true,
        graceMs: BRIDGE_OWNER_GRACE_MS,
        bindDelayMs: 0,
        refuseUntil: 0,
        credential: undefined,
        resources: new Map(),
        inflight: new Map(),
      };
      scenarios.set(name, s);
    }
    return s;
  };
  const wss = new WebSocketServer({ noServer: true });
  // Membership and load, as an agent reports them.
  const reporting = setInterval(() => {
    for (const s of scenarios.values()) {
      if (!s.reports) continue;
      const text = JSON.stringify({ event: 'report', mode: s.mode, loadBalancing: s.loadBalancing, nodes: s.nodes });
      for (const ws of s.nodeWatchers) if (ws.readyState === ws.OPEN) ws.send(text);
    }
  }, NODE_REPORT_MS);
  reporting.unref();

  const route = (rawUrl: string | undefined): { name: string; rest: string } => {
    const path = new URL(rawUrl ?? '/', 'http://stand-in').pathname;
    const m = /^\/s\/([^/]+)(\/.*)?$/.exec(path);
    return m === null ? { name: 'default', rest: path } : { name: decodeURIComponent(m[1] ?? 'default'), rest: m[2] ?? '/' };
  };

  const onHttp = (req: IncomingMessage, res: ServerResponse): void => {
    const { name, rest } = route(req.url);
    const s = scenario(name);
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && rest === '/log') {
      const open = [...s.owned.values()].flatMap((ids) => [...ids]);
      json(200, { ...s.log, open, orphaned: [...s.orphans.keys()] });
      return;
    }
    if (req.method === 'POST' && rest === '/drop') {
      for (const ws of s.sockets) ws.close(1012, 'stand-in restarting');
      json(200, { dropped: s.sockets.size });
      return;
    }
    if (req.method === 'GET' && rest === '/health') {
      json(200, { status: 'ok', mode: s.mode, loadBalancing: s.loadBalancing, nodes: s.nodes });
      return;
    }
    if (req.method === 'POST' && (rest === '/config' || rest === '/event' || rest === '/kill' || rest === '/refuse' || rest === '/end')) {
      readBody(req).then(
        (text) => {
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            json(400, { error: 'body is not JSON' });
            return;
          }
          if (rest === '/config') {
            const cfg = v.safeParse(ScenarioConfig, body);
            if (!cfg.success) return json(400, { error: issueText(cfg.issues[0]) });
            if (cfg.output.mode !== undefined) s.mode = cfg.output.mode;
            if (cfg.output.loadBalancing !== undefined) s.loadBalancing = cfg.output.loadBalancing;
            if (cfg.output.nodes !== undefined) s.nodes = [...cfg.output.nodes];
            if (cfg.output.streams !== undefined) s.streams = [...cfg.output.streams];
            if (cfg.output.graceMs !== undefined) s.graceMs = cfg.output.graceMs;
            if (cfg.output.bindDelayMs !== undefined) s.bindDelayMs = cfg.output.bindDelayMs;
            if (cfg.output.reports !== undefined) s.reports = cfg.output.reports;
            const node = cfg.output.agentNode;
            if (node === undefined) return json(200, { ok: true });
            void agentSecret(opts.secret, node).then((c) => {
              s.credential = c;
              json(200, { ok: true });
            });
            return;
          }
          if (rest === '/kill') {
            const kill = v.safeParse(KillBody, body);
            if (!kill.success) return json(400, { error: issueText(kill.issues[0]) });
            s.refuseUntil = Date.now() + (kill.output.refuseMs ?? 0);
            const killed = s.sockets.size;
            for (const ws of s.sockets) ws.terminate();
            json(200, { killed });
            return;
          }
          if (rest === '/refuse') {
            const refuse = v.safeParse(RefuseBody, body);
            if (!refuse.success) return json(400, { error: issueText(refuse.issues[0]) });
            s.refuseUntil = Date.now() + refuse.output.ms;
            json(200, { ok: true });
            return;
          }
          if (rest === '/end') {
            const end = v.safeParse(EndBody, body);
            if (!end.success) return json(400, { error: issueText(end.issues[0]) });
            const { id, status, info } = end.output;
            clearTimeout(s.orphans.get(id));
            s.orphans.delete(id);
            s.ended.set(id, { status, info });
            const owner = ownerOf(s, id);
            const meta = s.meta.get(id);
            if (owner !== undefined && meta !== undefined) {
              s.owned.get(owner)?.delete(id);
              const event = meta.kind === 'publish' ? { event: 'publisher', publishId: id, stream: meta.stream, status, info } : { event: 'player', playId: id, stream: meta.stream, status, info };
              owner.send(JSON.stringify(event));
            }
            json(200, { ok: true });
            return;
          }
          const event = v.safeParse(BridgeEvent, body);
          if (!event.success) return json(400, { error: issueText(event.issues[0]) });
          const e = event.output;
          if (e.event === 'node') s.nodes = [...s.nodes.filter((n) => n.id !== e.node.id), e.node];
          // Events go where they belong: node changes to the links that asked for the nodes, a
          // stream's events to the link that owns it (none while it is orphaned), `source` nowhere.
          const owner = ownerOf(s, e.event === 'publisher' ? e.publishId : e.event === 'player' ? e.playId : e.event === 'slowlink' ? e.id : undefined);
          const to = e.event === 'node' ? [...s.nodeWatchers] : owner === undefined ? [] : [owner];
          for (const ws of to) ws.send(JSON.stringify(e));
          json(200, { sent: to.length });
        },
        () => json(400, { error: 'cannot read body' }),
      );
      return;
    }
    json(404, { error: `stand-in: no route ${req.method} ${rest}` });
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const { name, rest } = route(req.url);
    const s = scenario(name);
    if (rest !== '/api') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\nthe bridge API is at /api\n');
      return;
    }
    if (Date.now() < s.refuseUntil) {
      s.log.refused++;
      socket.destroy();
      return;
    }
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '';
    if (!secretsEqual(token, s.credential ?? opts.secret)) {
      s.log.unauthorized++;
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\na valid bridge secret is required\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(s, ws));
  };

  const onConnection = (s: Scenario, ws: WebSocket): void => {
    s.sockets.add(ws);
    s.owned.set(ws, new Set());
    s.log.connections++;
    ws.on('close', (code) => {
      s.sockets.delete(ws);
      s.nodeWatchers.delete(ws);
      s.log.closed++;
      const owned = s.owned.get(ws) ?? new Set<string>();
      s.owned.delete(ws);
      for (const id of owned) s.inflight.delete(id);
      if (code === BRIDGE_RELEASE_CLOSE_CODE) {
        s.log.released.push(...owned);
        return;
      }
      // Lost, not released: kept for a `bind` until the grace ends.
      for (const id of owned) {
        const timer = setTimeout(() => {
          s.orphans.delete(id);
          s.log.released.push(id);
        }, s.graceMs);
        timer.unref();
        s.orphans.set(id, timer);
      }
    });
    ws.on('message', (data, isBinary) => {
      const reply = (msg: unknown): void => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
      };
      const later = (ms: number, msg: unknown): void => {
        setTimeout(() => reply(msg), ms);
      };
      if (isBinary) return reply({ id: -1, error: { code: 'INVALID_ARGUMENT', message: 'binary frames are not accepted' } });
      let json: unknown;
      try {
        json = JSON.parse(String(data));
      } catch {
        return reply({ id: -1, error: { code: 'INVALID_ARGUMENT', message: 'the frame is not valid JSON' } });
      }
      const parsed = v.safeParse(BridgeRequest, json);
      if (!parsed.success) {
        s.log.invalid.push(json);
        return reply({ id: -1, error: { code: 'INVALID_ARGUMENT', message: issueText(parsed.issues[0]) } });
      }
      const req = parsed.output;
      if (req.method === 'metrics') s.log.reports.push(req.params);
      else s.log.requests.push(req);
      const owned = s.owned.get(ws) ?? new Set<string>();
      const live = (id: string): boolean => s.resources.has(id) || s.orphans.has(id) || ownerOf(s, id) !== undefined;
      const ok = (result: unknown): void => reply({ id: req.id, result });
      const err = (code: string, message: string): void => reply({ id: req.id, error: { code, message } });
      switch (req.method) {
        case 'nodes':
          s.nodeWatchers.add(ws);
          return ok({ mode: s.mode, loadBalancing: s.loadBalancing, nodes: s.nodes });
        case 'ping':
          return ok({ time: Date.now() });
        case 'publish': {
          const { stream, publishId } = req.params;
          if (live(publishId)) return err('ALREADY_EXISTS', `id "${publishId}" is already in use`);
          if (stream.startsWith('taken')) return err('ALREADY_EXISTS', `stream "${stream}" is already published`);
          if (stream.startsWith('unavailable')) return err('UNAVAILABLE', `node ${req.params.node} is down`);
          if (stream.startsWith('badsdp')) return err('INVALID_ARGUMENT', 'sdp: Janus error 465: the offer could not be parsed');
          // Registered as the request arrives, so an unpublish finds it while it is still running.
          if (req.params.resource === true) s.resources.set(publishId, ufragOf(req.params.sdp));
          else owned.add(publishId);
          s.meta.set(publishId, { kind: 'publish', stream });
          if (stream.startsWith('hang')) {
            s.inflight.set(publishId, () => err('FAILED_PRECONDITION', `publish "${publishId}" was ended before it started`));
            return;
          }
          if (stream.startsWith('badresult')) return ok({ sdp: 5 });
          if (stream.startsWith('early')) reply({ event: 'publisher', publishId, stream, status: 'PUBLISHING' });
          ok({ sdp: STAND_IN_ANSWER_SDP });
          if (stream.startsWith('failing')) later(20, { event: 'publisher', publishId, stream, status: 'FAILED', info: 'Failed by ICE timeout' });
          else if (!stream.startsWith('early')) later(20, { event: 'publisher', publishId, stream, status: 'PUBLISHING' });
          return;
        }
        case 'play': {
          const { stream, playId } = req.params;
          if (live(playId)) return err('ALREADY_EXISTS', `id "${playId}" is already in use`);
          if (stream.startsWith('missing')) return err('NOT_FOUND', `stream "${stream}" is not published`);
          if (req.params.resource === true) s.resources.set(playId, ufragOf(req.params.sdp ?? ''));
          else owned.add(playId);
          s.meta.set(playId, { kind: 'play', stream });
          const clientOffer = req.params.sdp !== undefined;
          const type = stream.startsWith('wrongtype') ? (clientOffer ? 'offer' : 'answer') : clientOffer ? 'answer' : 'offer';
          ok({ sdp: type === 'answer' ? STAND_IN_ANSWER_SDP : STAND_IN_OFFER_SDP, type });
          if (clientOffer && type === 'answer') later(20, { event: 'player', playId, stream, status: 'PLAYING' });
          return;
        }
        case 'answer': {
          if (!owned.has(req.params.playId)) return err('NOT_FOUND', `no player ${req.params.playId}`);
          ok({});
          later(20, { event: 'player', playId: req.params.playId, stream: '', status: 'PLAYING' });
          return;
        }
        case 'unpublish': {
          const { publishId } = req.params;
          if (!(req.params.resource === true ? s.resources : owned).delete(publishId)) return err('NOT_FOUND', `no publish with id "${publishId}"`);
          // An unpublish of a publish still running ends it: that request fails, this one answers.
          s.inflight.get(publishId)?.();
          s.inflight.delete(publishId);
          return ok({});
        }
        case 'stop':
          if (!(req.params.resource === true ? s.resources : owned).delete(req.params.playId)) return err('NOT_FOUND', `no play with id "${req.params.playId}"`);
          return ok({});
        case 'trickle': {
          const { id, ufrag } = req.params;
          if (req.params.resource !== true) return owned.has(id) ? ok({}) : err('NOT_FOUND', `no publisher or player ${id}`);
          if (!s.resources.has(id)) return err('NOT_FOUND', `unknown resource publishId or playId "${id}"`);
          const own = s.resources.get(id);
          if (ufrag !== undefined && own !== undefined && ufrag !== own) return err('FAILED_PRECONDITION', `ufrag: "${ufrag}" is not this session's: an ICE restart`);
          return ok({});
        }
        case 'bind': {
          const bound: string[] = [];
          const gone: { id: string; status: Ended['status']; info: string }[] = [];
          for (const id of req.params.ids) {
            const orphan = s.orphans.get(id);
            const owner = ownerOf(s, id);
            if (orphan !== undefined || owner !== undefined) {
              clearTimeout(orphan);
              s.orphans.delete(id);
              if (owner !== undefined) s.owned.get(owner)?.delete(id);
              owned.add(id);
              bound.push(id);
              continue;
            }
            const ended = s.ended.get(id);
            if (ended !== undefined) gone.push({ id, ...ended });
            else gone.push({ id, status: 'FAILED', info: s.resources.has(id) ? `"${id}" is a resource: no link owns it` : `no publish or play "${id}"` });
          }
          if (s.bindDelayMs > 0) later(s.bindDelayMs, { id: req.id, result: { bound, gone } });
          else ok({ bound, gone });
          return;
        }
        case 'streams': {
          const now = Date.now();
          const viewers = s.streams.reduce((n, x) => n + x.viewers, 0);
          return ok({ at: now, streams: s.streams, history: [{ t: now, viewers, streams: s.streams.length }], historyPeriodMs: 2000 });
        }
        case 'metrics':
          return ok({});
        case 'sources':
          return ok({ streams: [], relays: [] });
        default:
          return err('INVALID_ARGUMENT', `the stand-in does not script "${req.method}"`);
      }
    });
  };

  const server: Server = createServer(onHttp);
  server.on('upgrade', onUpgrade);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('stand-in: not listening');
  const baseUrl = `http://${opts.host ?? '127.0.0.1'}:${address.port}`;
  return {
    baseUrl,
    port: address.port,
    url: (name) => `${baseUrl}/s/${encodeURIComponent(name)}`,
    close: async () => {
      clearInterval(reporting);
      for (const s of scenarios.values()) {
        for (const timer of s.orphans.values()) clearTimeout(timer);
        for (const ws of s.sockets) ws.terminate();
      }
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The open link that owns `id`, if one does (none for no id). */
function ownerOf(s: Scenario, id: string | undefined): WebSocket | undefined {
  for (const [ws, ids] of s.owned) if (id !== undefined && ids.has(id)) return ws;
  return undefined;
}

function ufragOf(sdp: string): string | undefined {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1];
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const secret = process.env['BRIDGE_SECRET'] ?? '';
  if (secret === '') {
    process.stderr.write('bridge-stand-in: set BRIDGE_SECRET\n');
    process.exit(2);
  }
  const port = Number(process.argv[2] ?? '8790');
  startStandIn({ secret, port }).then(
    (s) => process.stdout.write(`bridge stand-in listening on ${s.baseUrl} (API at ${s.baseUrl}/api)\n`),
    (err: unknown) => {
      process.stderr.write(`bridge-stand-in: ${errorText(err)}\n`);
      process.exit(1);
    },
  );
}
