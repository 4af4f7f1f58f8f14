/**
 * WHIP (RFC 9725) ingest and WHEP playback over HTTP. Runtime-free: the request and response are
 * the web standard ones, and the node list, the bridge, the edge choice and the token check come in
 * as `WhipDeps` (./adapter.ts supplies them under workerd).
 *
 *   POST    /whip/{stream}            origin: publish the offer -> 201 answer, Location, ETag, Link
 *                                     an edge: 307 to the origin's endpoint
 *   POST    /whep/{stream}            origin with load balancing: 307 to the chosen edge's endpoint
 *                                     an edge (or the origin without load balancing): play -> 201
 *   PATCH   /wh{i,e}p/{stream}/{id}   trickle-ice-sdpfrag: candidates -> 204; ICE restart -> 422
 *   DELETE  /wh{i,e}p/{stream}/{id}   unpublish / stop -> 200
 *   OPTIONS any of them               204 with CORS and Accept-Post / Accept-Patch
 *   /node/<id>/whip/..., /node/<id>/whep/...   the same, for clients that cannot set a Host header
 *
 * Sessions are bridge resources (`resource: true`): they outlive the request that made them, and any
 * request that names one acts on it. The resource id is the session's publishId or playId (96
 * random bits), so its URL is the capability. ICE restarts are not done (Janus would need a
 * renegotiation Fanout does not drive), so a session's ETag never changes: it is its id, quoted.
 */
import * as v from 'valibot';
import { CdnError, MAX_SDP_LENGTH, Sdp, StreamName, STREAM_NAME_RULE, type ErrorCode, type Method, type NodeInfo, type Params, type Result } from '../../protocol/index.ts';
import type { TokenRequest } from '../auth/index.ts';
import { errorResponse, RETRY_AFTER_SECONDS } from '../http.ts';
import { notANodeMessage, resolveTarget } from '../nodes/index.ts';
import { sdpProblem } from '../../protocol/sdp.ts';
import { iceServerLinks, type IceServer } from './ice-servers.ts';
import { parseTrickleFragment } from './sdpfrag.ts';

export type Protocol = 'whip' | 'whep';

/** What the path says. */
export interface Route {
  protocol: Protocol;
  /** The `{stream}` segment, decoded (validated here). */
  stream: string;
  /** The `{id}` segment of a session URL; undefined for the endpoint itself. */
  resource?: string | undefined;
  /** The `<id>` of a `/node/<id>/...` prefix. */
  pathNode?: string | undefined;
}

export type NodesView = { ok: true; nodes: readonly NodeInfo[]; loadBalancing: boolean } | { ok: false; error: CdnError };
export type EdgePick = { ok: true; node: NodeInfo } | { ok: false; code: ErrorCode; reason: string };
/** A token check: go on (maybe pinned to a node by the token), or the 401/403 to answer. */
export type AuthVerdict = { ok: true; pinnedNode?: string | undefined } | { ok: false; response: Response };

export interface WhipDeps {
  /** The bridge's node list (or why there is none). */
  nodes(): Promise<NodesView>;
  /** One bridge request (on a link of its own: sessions are resources, they outlive it). */
  bridge<M extends Method>(method: M, params: Params<M>): Promise<Result<M>>;
  /** The edge a WHEP player on the origin goes to: the same policy and health as /lb. */
  chooseEdge(): Promise<EdgePick>;
  /** The token check for publishing or playing. */
  authorize(req: TokenRequest): Promise<AuthVerdict>;
  iceServers: readonly IceServer[];
  /** Host names that are the worker's own (never a node). */
  workerHosts: readonly string[];
}

export const SDP_TYPE = 'application/sdp';
export const SDPFRAG_TYPE = 'application/trickle-ice-sdpfrag';
const ENDPOINT_METHODS = 'POST, OPTIONS';
const SESSION_METHODS = 'PATCH, DELETE, OPTIONS';

/** On every answer: browsers on other origins may call, and read what WHIP/WHEP clients need. */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'Location, ETag, Link, Accept-Post, Accept-Patch, Allow, Retry-After, WWW-Authenticate',
};
/** Preflight answers. PATCH is listed on the endpoint too: clients read it there to decide to trickle. */
const PREFLIGHT_HEADERS: Readonly<Record<string, string>> = {
  ...CORS_HEADERS,
  'Access-Control-Allow-Methods': 'POST, PATCH, DELETE, OPTIONS',
  // ETag: @eyevinn/whip-web-client sends its PATCHes with an ETag request header.
  'Access-Control-Allow-Headers': 'Authorization, Content-Type, If-Match, ETag',
  'Access-Control-Max-Age': '86400',
};

/** A session id as the bridge makes them (pub_... / play_...), or at least one it could accept. */
const RESOURCE_ID = /^[A-Za-z0-9_-]{1,64}$/;

const OfferSdp = v.pipe(
  Sdp,
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = sdpProblem(dataset.value);
    if (problem !== undefined) addIssue({ message: `sdp is not a valid session description: ${problem}` });
  }),
);

/** Handles one WHIP/WHEP request; never throws. */
export async function handleWhipWhep(request: Request, route: Route, deps: WhipDeps): Promise<Response> {
  try {
    return await handle(request, route, deps);
  } catch (err) {
    return fail(CdnError.from(err));
  }
}

async function handle(request: Request, route: Route, deps: WhipDeps): Promise<Response> {
  const session = route.resource !== undefined;
  if (request.method === 'OPTIONS') {
    return new Response(null, {
      status: 204,
      headers: { ...PREFLIGHT_HEADERS, Allow: session ? SESSION_METHODS : ENDPOINT_METHODS, ...(session ? { 'Accept-Patch': SDPFRAG_TYPE } : { 'Accept-Post': SDP_TYPE }) },
    });
  }
  const allowed = session ? ['PATCH', 'DELETE'] : ['POST'];
  if (!allowed.includes(request.method)) {
    const what = session ? `a ${route.protocol.toUpperCase()} session takes PATCH (trickle) and DELETE` : `a ${route.protocol.toUpperCase()} endpoint takes POST with an SDP offer`;
    return fail(new CdnError('INVALID_ARGUMENT', `${request.method} is not allowed here: ${what}`), { Allow: session ? SESSION_METHODS : ENDPOINT_METHODS }, 405);
  }
  if (!v.is(StreamName, route.stream)) return fail(new CdnError('INVALID_ARGUMENT', `stream: ${STREAM_NAME_RULE}`));
  if (route.resource !== undefined && !RESOURCE_ID.test(route.resource)) {
    return fail(new CdnError('NOT_FOUND', `no ${route.protocol.toUpperCase()} session "${route.resource}"`));
  }

  const view = await deps.nodes();
  if (!view.ok) return fail(new CdnError('UNAVAILABLE', `the bridge is unavailable: ${view.error.message}`));
  const host = request.headers.get('host') ?? new URL(request.url).host;
  const target = resolveTarget({ host, pathNode: route.pathNode, nodes: view.nodes, workerHosts: deps.workerHosts });
  if (target.kind !== 'node') return fail(new CdnError('NOT_FOUND', notANodeMessage(target, view.nodes, host).replace(/\/ws\)$/, `/${route.protocol}/<stream>)`)));
  const urls = new UrlMaker(request, host, target.via);
  const node = target.node;

  if (route.resource !== undefined) {
    return request.method === 'PATCH' ? patch(request, route, route.resource, node, deps) : remove(route, route.resource, node, deps);
  }
  const typeProblem = contentTypeProblem(request, SDP_TYPE);
  if (typeProblem !== undefined) return fail(new CdnError('INVALID_ARGUMENT', typeProblem), { 'Accept-Post': SDP_TYPE }, 415);
  return route.protocol === 'whip' ? whipPost(request, route.stream, node, view.nodes, urls, deps) : whepPost(request, route.stream, node, view, urls, deps);
}

// ---------------------------------------------------------------- POST

async function whipPost(request: Request, stream: string, node: NodeInfo, nodes: readonly NodeInfo[], urls: UrlMaker, deps: WhipDeps): Promise<Response> {
  if (node.role !== 'origin') {
    const origin = nodes.find((n) => n.role === 'origin');
    if (origin === undefined) return fail(new CdnError('NOT_FOUND', `WHIP is served by the origin, and the topology has none (this is ${node.id})`));
    return redirect(urls.endpoint('whip', origin, stream), `WHIP is served by the origin (${origin.id}), not by ${node.id}`);
  }
  const verdict = await deps.authorize({ action: 'publish', stream, node: node.id });
  if (!verdict.ok) return verdict.response;
  const offer = await readOffer(request);
  if (offer instanceof Response) return offer;
  let result: Result<'publish'>;
  try {
    result = await deps.bridge('publish', { node: node.id, stream, sdp: offer, resource: true });
  } catch (err) {
    return fail(CdnError.from(err));
  }
  const headers = new Headers(created(urls.session('whip', node, stream, result.publishId), result.publishId));
  for (const link of iceServerLinks(deps.iceServers)) headers.append('Link', link);
  return new Response(result.sdp, { status: 201, headers });
}

async function whepPost(request: Request, stream: string, node: NodeInfo, view: Extract<NodesView, { ok: true }>, urls: UrlMaker, deps: WhipDeps): Promise<Response> {
  if (node.role === 'origin' && view.loadBalancing) {
    const verdict = await deps.authorize({ action: 'play', stream });
    if (!verdict.ok) return verdict.response;
    const pick = verdict.pinnedNode !== undefined ? pinned(view.nodes, verdict.pinnedNode) : await deps.chooseEdge();
    if (!pick.ok) {
      const status = pick.code === 'PERMISSION_DENIED' ? 403 : undefined;
      return fail(new CdnError(pick.code === 'TIMEOUT' ? 'UNAVAILABLE' : pick.code, pick.reason), {}, status);
    }
    return redirect(urls.endpoint('whep', pick.node, stream), `play "${stream}" from ${pick.node.id}`);
  }
  const verdict = await deps.authorize({ action: 'play', stream, node: node.id });
  if (!verdict.ok) return verdict.response;
  const offer = await readOffer(request);
  if (offer instanceof Response) return offer;
  let result: Result<'play'>;
  try {
    result = await deps.bridge('play', { node: node.id, stream, sdp: offer, resource: true });
  } catch (err) {
    const e = CdnError.from(err);
    // Nothing to play yet: WHEP's 409, and the client may try again.
    if (e.code === 'NOT_FOUND') return fail(new CdnError('NOT_FOUND', `stream "${stream}" is not live: ${e.message}`), { 'Retry-After': String(RETRY_AFTER_SECONDS) }, 409);
    return fail(e);
  }
  if (result.type !== 'answer') {
    await deps.bridge('stop', { playId: result.playId, resource: true }).catch(() => undefined);
    return fail(new CdnError('INTERNAL', 'the bridge answered a client offer with an offer'));
  }
  return new Response(result.sdp, { status: 201, headers: created(urls.session('whep', node, stream, result.playId), result.playId) });
}

/** A play token that names an edge sends its player there (when it is up), as /lb does. */
function pinned(nodes: readonly NodeInfo[], id: string): EdgePick {
  const node = nodes.find((n) => n.id === id);
  if (node === undefined || node.role !== 'edge') return { ok: false, code: 'PERMISSION_DENIED', reason: `the token is for node ${id}, which is not an edge` };
  if (!node.up) return { ok: false, code: 'UNAVAILABLE', reason: `${id} (the token's node) is down` };
  return { ok: true, node };
}

async function readOffer(request: Request): Promise<string | Response> {
  const tooLarge = (): Response => fail(new CdnError('INVALID_ARGUMENT', `the offer is larger than ${MAX_SDP_LENGTH} bytes`), {}, 413);
  if (Number(request.headers.get('content-length') ?? '0') > MAX_SDP_LENGTH) return tooLarge();
  const text = await bodyText(request);
  if (text === undefined) return fail(new CdnError('INVALID_ARGUMENT', 'the body is not UTF-8 text'));
  if (text.length > MAX_SDP_LENGTH) return tooLarge();
  if (text.trim() === '') return fail(new CdnError('INVALID_ARGUMENT', 'the body must be an SDP offer; it is empty (server offers are not supported: send yours)'));
  const parsed = v.safeParse(OfferSdp, text);
  if (!parsed.success) return fail(new CdnError('INVALID_ARGUMENT', parsed.issues[0]?.message ?? 'sdp is not a valid session description'));
  return parsed.output;
}

function created(location: string, id: string): Record<string, string> {
  return {
    ...CORS_HEADERS,
    'Content-Type': SDP_TYPE,
    'Cache-Control': 'no-store',
    Location: location,
    ETag: etagOf(id),
    'Accept-Patch': SDPFRAG_TYPE,
  };
}

function redirect(location: string, why: string): Response {
  return new Response(`${why}: ${location}\n`, {
    status: 307,
    headers: { ...CORS_HEADERS, Location: location, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
  });
}

// ---------------------------------------------------------------- PATCH and DELETE

async function patch(request: Request, route: Route, id: string, node: NodeInfo, deps: WhipDeps): Promise<Response> {
  const typeProblem = contentTypeProblem(request, SDPFRAG_TYPE);
  if (typeProblem !== undefined) return fail(new CdnError('INVALID_ARGUMENT', typeProblem), { 'Accept-Patch': SDPFRAG_TYPE }, 415);
  const verdict = await deps.authorize({ action: route.protocol === 'whip' ? 'publish' : 'play', stream: route.stream, node: node.id });
  if (!verdict.ok) return verdict.response;
  const text = await bodyText(request);
  if (text === undefined) return fail(new CdnError('INVALID_ARGUMENT', 'the body is not UTF-8 text'));
  let fragment: ReturnType<typeof parseTrickleFragment>;
  try {
    fragment = parseTrickleFragment(text);
  } catch (err) {
    return fail(CdnError.from(err));
  }
  const sessionGone = (e: CdnError): Response =>
    e.code === 'NOT_FOUND' ? fail(new CdnError('NOT_FOUND', `no ${route.protocol.toUpperCase()} session "${id}" (it ended, or never existed)`)) : fail(e);
  const noRestart = (): Response =>
    fail(new CdnError('FAILED_PRECONDITION', 'ICE restarts are not supported: DELETE this session and POST a new offer'), {}, 422);

  const match = ifMatch(request.headers.get('if-match'), etagOf(id));
  if (match === 'any') {
    // `If-Match: *` asks for an ICE restart. Say 404 for a session that does not exist, else 422.
    try {
      await deps.bridge('trickle', { id, candidates: [], resource: true });
    } catch (err) {
      return sessionGone(CdnError.from(err));
    }
    return noRestart();
  }
  if (match === 'mismatch') {
    return fail(new CdnError('FAILED_PRECONDITION', `If-Match names another version of this session (its ETag is ${etagOf(id)})`), { ETag: etagOf(id) }, 412);
  }
  try {
    await deps.bridge('trickle', { id, candidates: fragment.candidates, ended: fragment.ended, resource: true, ...(fragment.ufrag === undefined ? {} : { ufrag: fragment.ufrag }) });
  } catch (err) {
    const e = CdnError.from(err);
    // The bridge refuses a ufrag that is not the session's: the client is restarting ICE.
    if (e.code === 'FAILED_PRECONDITION' && match === 'absent') {
      return fail(new CdnError('FAILED_PRECONDITION', `new ICE credentials are an ICE restart, which needs "If-Match: *" (and is not supported here): ${e.message}`), {}, 428);
    }
    if (e.code === 'FAILED_PRECONDITION') return noRestart();
    return sessionGone(e);
  }
  return new Response(null, { status: 204, headers: CORS_HEADERS });
}

async function remove(route: Route, id: string, node: NodeInfo, deps: WhipDeps): Promise<Response> {
  const verdict = await deps.authorize({ action: route.protocol === 'whip' ? 'publish' : 'play', stream: route.stream, node: node.id });
  if (!verdict.ok) return verdict.response;
  try {
    if (route.protocol === 'whip') await deps.bridge('unpublish', { publishId: id, resource: true });
    else await deps.bridge('stop', { playId: id, resource: true });
  } catch (err) {
    const e = CdnError.from(err);
    return fail(e.code === 'NOT_FOUND' ? new CdnError('NOT_FOUND', `no ${route.protocol.toUpperCase()} session "${id}" (it ended, or never existed)`) : e);
  }
  return new Response(null, { status: 200, headers: CORS_HEADERS });
}

// ---------------------------------------------------------------- helpers

/** The error answer: the one JSON shape (../http.ts), plus CORS. */
function fail(err: CdnError, headers: Record<string, string> = {}, status?: number): Response {
  return errorResponse(err, { ...CORS_HEADERS, ...headers }, status);
}

/** The body as UTF-8 (undefined when it is not). SDP bodies are text whatever workerd guesses. */
async function bodyText(request: Request): Promise<string | undefined> {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(await request.arrayBuffer());
  } catch {
    return undefined;
  }
}

/** Why the request's Content-Type is not `want` (media type only, parameters ignored), or undefined. */
function contentTypeProblem(request: Request, want: string): string | undefined {
  const raw = request.headers.get('content-type');
  const type = raw?.split(';')[0]?.trim().toLowerCase();
  if (type === want) return undefined;
  return `Content-Type must be ${want}${raw === null ? ' (none was sent)' : `, not "${raw}"`}`;
}

export function etagOf(id: string): string {
  return `"${id}"`;
}

/** How an If-Match header relates to `etag` (strong comparison: weak tags never match). */
export function ifMatch(header: string | null, etag: string): 'absent' | 'any' | 'match' | 'mismatch' {
  if (header === null || header.trim() === '') return 'absent';
  if (header.trim() === '*') return 'any';
  const tags = header.split(',').map((t) => t.trim());
  return tags.includes(etag) ? 'match' : 'mismatch';
}

/** URLs in the addressing style the client used (a node's host, or `/node/<id>` on the same host). */
class UrlMaker {
  readonly #origin: string;
  readonly #scheme: string;
  readonly #via: 'host' | 'path';
  readonly #query: string;

  constructor(request: Request, host: string, via: 'host' | 'path') {
    const url = new URL(request.url);
    this.#scheme = url.protocol === 'https:' ? 'https' : 'http';
    this.#origin = `${this.#scheme}://${host}`;
    this.#via = via;
    // A token in the query (?token=) follows the client to where it is sent: browsers drop an
    // Authorization header on a redirect to another origin.
    this.#query = url.search;
  }

  endpoint(protocol: Protocol, node: NodeInfo, stream: string): string {
    return `${this.#base(node)}/${protocol}/${encodeURIComponent(stream)}${this.#query}`;
  }

  session(protocol: Protocol, node: NodeInfo, stream: string, id: string): string {
    return `${this.#base(node)}/${protocol}/${encodeURIComponent(stream)}/${encodeURIComponent(id)}`;
  }

  #base(node: NodeInfo): string {
    return this.#via === 'path' ? `${this.#origin}/node/${node.id}` : `${this.#scheme}://${node.host.toLowerCase()}`;
  }
}
