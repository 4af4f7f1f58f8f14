/**
 * A scripted stand-in for the bridge's worker API, for tests of the worker's side alone (and for
 * trying the worker under `wrangler dev` without Janus). It speaks the real protocol (requests are
 * validated with `BridgeRequest`), authenticates the bearer secret, and answers from a script keyed
 * by stream name. Node only; listens on 127.0.0.1.
 *
 * Scenarios isolate tests from each other: `<base>/s/<scenario>` is a bridge URL of its own (its API
 * at `/s/<scenario>/api`) with its own node list, request log and connections. Plain `<base>` is the
 * scenario "default". Control endpoints (JSON):
 *   POST /s/<scenario>/config  {mode?, loadBalancing?, nodes?, streams?}   replace the scenario's node list / streams view
 *   POST /s/<scenario>/event   <BridgeEvent>                      push an event to its connections
 *   POST /s/<scenario>/drop                                       close its connections (1012)
 *   GET  /s/<scenario>/log                                        what it received (see ScenarioLog)
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
 *   streams  -> the configured streams, one history sample
 *   metrics  -> {}; the report goes to the log's `reports`, not `requests` (tests of the rest stay as they were)
 *
 * Run by hand: `npx tsx worker/test-support/bridge-stand-in.ts [port]` (BRIDGE_SECRET from the env).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import * as v from 'valibot';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  BalancingMode,
  BridgeEvent,
  BridgeRequest,
  errorText,
  issueText,
  NodeInfo,
  StreamInfo,
  secretsEqual,
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
});

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
  /** Ids released because their connection closed. */
  released: string[];
}

interface Scenario {
  mode: v.InferOutput<typeof BalancingMode>;
  loadBalancing: boolean;
  nodes: NodeInfoT[];
  streams: v.InferOutput<typeof StreamInfo>[];
  sockets: Set<WebSocket>;
  log: Omit<ScenarioLog, 'open'>;
  owned: Map<WebSocket, Set<string>>;
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
        log: { requests: [], reports: [], invalid: [], connections: 0, closed: 0, unauthorized: 0, released: [] },
        owned: new Map(),
        resources: new Map(),
        inflight: new Map(),
      };
      scenarios.set(name, s);
    }
    return s;
  };
  const wss = new WebSocketServer({ noServer: true });

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
      json(200, { ...s.log, open });
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
    if (req.method === 'POST' && (rest === '/config' || rest === '/event')) {
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
            json(200, { ok: true });
            return;
          }
          const event = v.safeParse(BridgeEvent, body);
          if (!event.success) return json(400, { error: issueText(event.issues[0]) });
          if (event.output.event === 'node') {
            const node = event.output.node;
            s.nodes = [...s.nodes.filter((n) => n.id !== node.id), node];
          }
          for (const ws of s.sockets) ws.send(JSON.stringify(event.output));
          json(200, { sent: s.sockets.size });
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
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '';
    if (!secretsEqual(token, opts.secret)) {
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
    ws.on('close', () => {
      s.sockets.delete(ws);
      s.log.closed++;
      const owned = s.owned.get(ws) ?? new Set<string>();
      for (const id of owned) s.inflight.delete(id);
      s.log.released.push(...owned);
      s.owned.delete(ws);
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
      const live = (id: string): boolean => s.resources.has(id) || [...s.owned.values()].some((ids) => ids.has(id));
      const ok = (result: unknown): void => reply({ id: req.id, result });
      const err = (code: string, message: string): void => reply({ id: req.id, error: { code, message } });
      switch (req.method) {
        case 'nodes':
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
        case 'streams': {
          const now = Date.now();
          const viewers = s.streams.reduce((n, x) => n + x.viewers, 0);
          return ok({ at: now, streams: s.streams, history: [{ t: now, viewers, streams: s.streams.length }], historyPeriodMs: 2000 });
        }
        case 'metrics':
          return ok({});
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
      for (const s of scenarios.values()) for (const ws of s.sockets) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
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
