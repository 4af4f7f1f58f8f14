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
 *   OPTIONS any of them               204 with CORS (../http.ts) and Allow, Accept-Post / Accept-Patch
 *   /node/<id>/whip/..., /node/<id>/whep/...   the same, for clients that cannot set a Host header
 *
 * Sessions are bridge resources (`resource: true`): they outlive the request that made them, and any
 * request that names one acts on it. The resource id is the session's publishId or playId, named
 * here with `newMediaId` before the bridge is asked (96 random bits), so its URL is the capability. ICE restarts are not done (Janus would need a
 * renegotiation Fanout does not drive), so a session's ETag never changes: it is its id, quoted.
 */
import * as v from 'valibot';
import { CdnError, ClientSdp, Errors, issueText, MAX_SDP_LENGTH, MediaId, newMediaId, RETRY_AFTER_SECONDS, type ErrorCode, type Method, type NodeInfo, type Params, type Result } from '../../protocol/index.ts';
import { check, denialResponse, tokenOf, type Auth, type GateVerdict, type TokenRequest } from '../auth/index.ts';
import type { OriginPlace } from '../balancer/node-table.ts';
import { pinnedEdge } from '../balancer/policy.ts';
import { checkStreamParam, errorResponse } from '../http.ts';
import { notANodeMessage, resolveTarget } from '../nodes/index.ts';
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

export interface WhipDeps {
  /** The bridge's node list (or why there is none). */
  nodes(): Promise<NodesView>;
  /**
   * One request to the agent of node `node` (on a link of its own: sessions are resources, they
   * outlive it). The node is the one the request is for: the origin a publish is on, the edge a
   * play is on, the node in a session URL.
   */
  bridge<M extends Method>(node: string, method: M, params: Params<M>): Promise<Result<M>>;
  /** The edge a WHEP player on the origin goes to: the same policy and health as /lb. */
  chooseEdge(): Promise<EdgePick>;
  /** Where a WHIP publish asked on `here` runs (`pinned`: the node its token names): ../balancer placeOrigin. */
  placeOrigin(here: NodeInfo, pinned: string | undefined): Promise<OriginPlace>;
  /** Takes the name for a publish (several origins: the CDN-wide lock); true when it must be released. */
  claim(stream: string, node: string, publishId: string): Promise<boolean>;
  /** Frees the name (never throws). */
  release(stream: string, publishId: string): void;
  /** The token keys (the gate of ../auth). */
  auth: Auth;
  iceServers: readonly IceServer[];
  /** Host names that are the worker's own (never a node). */
  workerHosts: readonly string[];
}

export const SDP_TYPE = 'application/sdp';
export const SDPFRAG_TYPE = 'application/trickle-ice-sdpfrag';
const ENDPOINT_METHODS = 'POST, OPTIONS';
const SESSION_METHODS = 'PATCH, DELETE, OPTIONS';

/**
 * What an OPTIONS answer says besides CORS (which ../http.ts's corsMiddleware adds, answering the
 * request): the methods and, for the endpoint, the body type it takes; for a session, the PATCH type.
 */
export function optionsHeaders(session: boolean): Record<string, string> {
  return { Allow: session ? SESSION_METHODS : ENDPOINT_METHODS, ...(session ? { 'Accept-Patch': SDPFRAG_TYPE } : { 'Accept-Post': SDP_TYPE }) };
}

/**
 * Handles one WHIP/WHEP request (not OPTIONS, see optionsHeaders). Errors that need no header of
 * their own are thrown as CdnError and become the JSON answer in app.ts's onError.
 */
export async function handleWhipWhep(request: Request, route: Route, deps: WhipDeps): Promise<Response> {
  const session = route.resource !== undefined;
  const allowed = session ? ['PATCH', 'DELETE'] : ['POST'];
  if (!allowed.includes(request.method)) {
    const what = session ? `a ${route.protocol.toUpperCase()} session takes PATCH (trickle) and DELETE` : `a ${route.protocol.toUpperCase()} endpoint takes POST with an SDP offer`;
    return errorResponse(Errors.methodNotAllowed(`${request.method} is not allowed here: ${what}`), { Allow: session ? SESSION_METHODS : ENDPOINT_METHODS });
  }
  checkStreamParam(route.stream);
  // Ids are the worker's own (newMediaId): anything else names no session.
  if (route.resource !== undefined && !v.is(MediaId, route.resource)) throw Errors.sessionNotFound(route.protocol.toUpperCase(), route.resource);

  const view = await deps.nodes();
  if (!view.ok) throw Errors.bridgeUnavailable(view.error.message);
  const host = request.headers.get('host') ?? new URL(request.url).host;
  const target = resolveTarget({ host, pathNode: route.pathNode, nodes: view.nodes, workerHosts: deps.workerHosts });
  if (target.kind !== 'node') throw new CdnError('NOT_FOUND', notANodeMessage(target, view.nodes, host).replace(/\/ws\)$/, `/${route.protocol}/<stream>)`));
  const urls = new UrlMaker(request, host, target.via);
  const node = target.node;

  if (route.resource !== undefined) {
    return request.method === 'PATCH' ? patch(request, route, route.resource, node, deps) : remove(request, route, route.resource, node, deps);
  }
  const typeProblem = contentTypeProblem(request, SDP_TYPE);
  if (typeProblem !== undefined) return errorResponse(Errors.unsupportedMediaType(typeProblem), { 'Accept-Post': SDP_TYPE });
  return route.protocol === 'whip' ? whipPost(request, route.stream, node, urls, deps) : whepPost(request, route.stream, node, view, urls, deps);
}

/** The gate for this request's token: undefined to go on (with the pinned node), or the 401/403. */
async function admitted(request: Request, deps: WhipDeps, want: TokenRequest): Promise<Extract<GateVerdict, { ok: true }> | Response> {
  const verdict = await check(deps.auth, tokenOf(request), want);
  return verdict.ok ? verdict : denialResponse(verdict.denial);
}

// ---------------------------------------------------------------- POST

async function whipPost(request: Request, stream: string, node: NodeInfo, urls: UrlMaker, deps: WhipDeps): Promise<Response> {
  // A client without the right to publish learns nothing of where it would go.
  const allowed = await admitted(request, deps, { action: 'publish', stream });
  if (allowed instanceof Response) return allowed;
  const place = await deps.placeOrigin(node, allowed.pinnedNode);
  if (!place.ok && place.code === 'PERMISSION_DENIED') return denialResponse({ code: 'PERMISSION_DENIED', reason: place.reason });
  if (!place.ok) throw new CdnError(place.code === 'TIMEOUT' ? 'UNAVAILABLE' : place.code, `WHIP is served by an origin, and none can take "${stream}": ${place.reason}`);
  if (!place.here) return redirect(urls.endpoint('whip', place.node, stream), `publish "${stream}" on origin ${place.node.id}`);
  const verdict = await admitted(request, deps, { action: 'publish', stream, node: node.id });
  if (verdict instanceof Response) return verdict;
  const offer = await readOffer(request);
  const publishId = newMediaId('pub');
  const claimed = await deps.claim(stream, node.id, publishId);
  let result: Result<'publish'>;
  try {
    result = await deps.bridge(node.id, 'publish', { publishId, node: node.id, stream, sdp: offer, resource: true });
  } catch (err) {
    if (claimed) deps.release(stream, publishId);
    throw err;
  }
  const headers = new Headers(created(urls.session('whip', node, stream, publishId), publishId));
  for (const link of iceServerLinks(deps.iceServers)) headers.append('Link', link);
  return new Response(result.sdp, { status: 201, headers });
}

async function whepPost(request: Request, stream: string, node: NodeInfo, view: Extract<NodesView, { ok: true }>, urls: UrlMaker, deps: WhipDeps): Promise<Response> {
  if (node.role === 'origin' && view.loadBalancing) {
    const verdict = await admitted(request, deps, { action: 'play', stream });
    if (verdict instanceof Response) return verdict;
    const pick = verdict.pinnedNode !== undefined ? pinnedEdge(view.nodes, verdict.pinnedNode) : await deps.chooseEdge();
    if (!pick.ok) throw new CdnError(pick.code === 'TIMEOUT' ? 'UNAVAILABLE' : pick.code, pick.reason);
    return redirect(urls.endpoint('whep', pick.node, stream), `play "${stream}" from ${pick.node.id}`);
  }
  const verdict = await admitted(request, deps, { action: 'play', stream, node: node.id });
  if (verdict instanceof Response) return verdict;
  const offer = await readOffer(request);
  const playId = newMediaId('play');
  let result: Result<'play'>;
  try {
    result = await deps.bridge(node.id, 'play', { playId, node: node.id, stream, sdp: offer, resource: true });
  } catch (err) {
    const e = CdnError.from(err);
    // Nothing to play yet: WHEP's 409, and the client may try again.
    if (e.code === 'NOT_FOUND') return errorResponse(Errors.notLive(stream, e.message), { 'Retry-After': String(RETRY_AFTER_SECONDS) });
    throw e;
  }
  if (result.type !== 'answer') {
    await deps.bridge(node.id, 'stop', { playId, resource: true }).catch(() => undefined);
    throw Errors.internal('the bridge answered a client offer with an offer');
  }
  return new Response(result.sdp, { status: 201, headers: created(urls.session('whep', node, stream, playId), playId) });
}

/** The client's offer: UTF-8, within MAX_SDP_LENGTH, and the same SDP check as a WCS client's. */
async function readOffer(request: Request): Promise<string> {
  const tooLarge = (): CdnError => Errors.payloadTooLarge('the offer', MAX_SDP_LENGTH);
  if (Number(request.headers.get('content-length') ?? '0') > MAX_SDP_LENGTH) throw tooLarge();
  const text = await bodyText(request);
  if (text === undefined) throw Errors.invalid('the body is not UTF-8 text');
  if (text.length > MAX_SDP_LENGTH) throw tooLarge();
  if (text.trim() === '') throw Errors.invalid('the body must be an SDP offer; it is empty (server offers are not supported: send yours)');
  const parsed = v.safeParse(ClientSdp, text);
  if (!parsed.success) throw Errors.invalid(issueText(parsed.issues[0], 'sdp is not a valid session description'));
  return parsed.output;
}

function created(location: string, id: string): Record<string, string> {
  return {
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
    headers: { Location: location, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
  });
}

// ---------------------------------------------------------------- PATCH and DELETE

async function patch(request: Request, route: Route, id: string, node: NodeInfo, deps: WhipDeps): Promise<Response> {
  const typeProblem = contentTypeProblem(request, SDPFRAG_TYPE);
  if (typeProblem !== undefined) return errorResponse(Errors.unsupportedMediaType(typeProblem), { 'Accept-Patch': SDPFRAG_TYPE });
  const verdict = await admitted(request, deps, { action: route.protocol === 'whip' ? 'publish' : 'play', stream: route.stream, node: node.id });
  if (verdict instanceof Response) return verdict;
  const text = await bodyText(request);
  if (text === undefined) throw Errors.invalid('the body is not UTF-8 text');
  const fragment = parseTrickleFragment(text);
  const kind = route.protocol.toUpperCase();
  const sessionGone = (e: CdnError): CdnError => (e.code === 'NOT_FOUND' ? Errors.sessionNotFound(kind, id) : e);
  const noRestart = (): CdnError => Errors.unprocessable('ICE restarts are not supported: DELETE this session and POST a new offer');

  const match = ifMatch(request.headers.get('if-match'), etagOf(id));
  if (match === 'any') {
    // `If-Match: *` asks for an ICE restart. Say 404 for a session that does not exist, else 422.
    await deps.bridge(node.id, 'trickle', { id, candidates: [], resource: true }).catch((err: unknown) => {
      throw sessionGone(CdnError.from(err));
    });
    throw noRestart();
  }
  if (match === 'mismatch') {
    return errorResponse(Errors.preconditionFailed(`If-Match names another version of this session (its ETag is ${etagOf(id)})`), { ETag: etagOf(id) });
  }
  try {
    await deps.bridge(node.id, 'trickle', { id, candidates: fragment.candidates, ended: fragment.ended, resource: true, ...(fragment.ufrag === undefined ? {} : { ufrag: fragment.ufrag }) });
  } catch (err) {
    const e = CdnError.from(err);
    // The bridge refuses a ufrag that is not the session's: the client is restarting ICE.
    if (e.code === 'FAILED_PRECONDITION' && match === 'absent') {
      throw Errors.preconditionRequired(`new ICE credentials are an ICE restart, which needs "If-Match: *" (and is not supported here): ${e.message}`);
    }
    throw e.code === 'FAILED_PRECONDITION' ? noRestart() : sessionGone(e);
  }
  return new Response(null, { status: 204 });
}

async function remove(request: Request, route: Route, id: string, node: NodeInfo, deps: WhipDeps): Promise<Response> {
  const verdict = await admitted(request, deps, { action: route.protocol === 'whip' ? 'publish' : 'play', stream: route.stream, node: node.id });
  if (verdict instanceof Response) return verdict;
  try {
    if (route.protocol === 'whip') {
      await deps.bridge(node.id, 'unpublish', { publishId: id, resource: true });
      deps.release(route.stream, id);
    } else await deps.bridge(node.id, 'stop', { playId: id, resource: true });
  } catch (err) {
    const e = CdnError.from(err);
    throw e.code === 'NOT_FOUND' ? Errors.sessionNotFound(route.protocol.toUpperCase(), id) : e;
  }
  return new Response(null, { status: 200 });
}

// ---------------------------------------------------------------- helpers

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
