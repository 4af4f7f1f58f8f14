/**
 * The WCS load-balancer contract, client side: `GET lbUrl` answers `{server, ws, wss}` (Fanout adds
 * the full `url`), and the same fields arrive in the origin's `redirect` frame. Both turn into the
 * WebSocket URL of the node to connect to.
 */
import * as v from 'valibot';
import { errorText } from '../protocol/errors.ts';

/** How long the SDK waits for the load balancer before it falls back to `urlServer`. */
export const LB_TIMEOUT_MS = 5000;

const Port = v.union([v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)), v.pipe(v.string(), v.regex(/^\d{1,5}$/))]);

const LbAnswer = v.looseObject({
  server: v.pipe(v.string(), v.minLength(1)),
  ws: v.optional(v.nullable(Port)),
  wss: v.optional(v.nullable(Port)),
  url: v.optional(v.nullable(v.string())),
});

/** A node's address as the load balancer or a redirect names it. */
export interface NodeAddress {
  server?: string | null | undefined;
  ws?: number | string | null | undefined;
  wss?: number | string | null | undefined;
  url?: string | null | undefined;
}

function isWsUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'ws:' || u.protocol === 'wss:';
  } catch {
    return false;
  }
}

/**
 * The WebSocket URL for `address`, keeping the scheme of `current` (wss stays wss): the full
 * `url` when it has that scheme, else `<scheme>://<server>:<ws|wss>/`. Undefined when the address
 * does not name a node.
 *
 * @example
 * nodeUrl('ws://origin.localhost:8787/', { server: 'edge-1.localhost', ws: 8787, wss: 8443 });
 * // 'ws://edge-1.localhost:8787/'
 */
export function nodeUrl(current: string, address: NodeAddress): string | undefined {
  const secure = current.startsWith('wss:');
  const scheme = secure ? 'wss' : 'ws';
  if (typeof address.url === 'string' && isWsUrl(address.url) && address.url.startsWith(`${scheme}:`)) return address.url;
  const port = secure ? address.wss : address.ws;
  if (typeof address.server !== 'string' || address.server === '' || port === undefined || port === null) {
    // A full URL of the other scheme is still better than nothing (a ws page behind a wss-only node).
    return typeof address.url === 'string' && isWsUrl(address.url) ? address.url : undefined;
  }
  const url = `${scheme}://${address.server}:${String(port)}/`;
  return isWsUrl(url) ? url : undefined;
}

/**
 * `lbUrl` with the session's token as `?token=` (the load balancer checks it when the CDN requires
 * tokens), unless the URL already carries one.
 *
 * @example
 * withToken('https://origin.cdn.example.com/lb?stream=cam1', 'eyJ2Ijox...');
 * // 'https://origin.cdn.example.com/lb?stream=cam1&token=eyJ2Ijox...'
 */
export function withToken(lbUrl: string, token: string | undefined): string {
  if (token === undefined || token === '' || /[?&]token=/.test(lbUrl)) return lbUrl;
  const hash = lbUrl.indexOf('#');
  const base = hash < 0 ? lbUrl : lbUrl.slice(0, hash);
  const fragment = hash < 0 ? '' : lbUrl.slice(hash);
  return `${base}${base.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}${fragment}`;
}

export type FetchLike = (url: string, init: { signal: AbortSignal; headers: Record<string, string> }) => Promise<{
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}>;

/** Why the load balancer was not used, for logs; `url` is where to connect. */
export interface LbResult {
  url: string;
  fallback?: string;
}

/**
 * Asks the load balancer where to connect; on a timeout, an error status or a bad answer, falls
 * back to `urlServer` and says why.
 *
 * @example
 * const { url } = await resolveServer('ws://origin.example.com:8080/', 'http://origin.example.com:8080/lb');
 */
export async function resolveServer(
  urlServer: string,
  lbUrl: string,
  fetchImpl: FetchLike = (u, init) => fetch(u, init),
  timeoutMs: number = LB_TIMEOUT_MS,
): Promise<LbResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await fetchImpl(lbUrl, { signal: controller.signal, headers: { accept: 'application/json' } });
    if (!res.ok) return { url: urlServer, fallback: `the load balancer answered ${res.status}` };
    const parsed = v.safeParse(LbAnswer, await res.json());
    if (!parsed.success) return { url: urlServer, fallback: `the load balancer's answer is not {server, ws, wss}: ${parsed.issues[0].message}` };
    const url = nodeUrl(urlServer, parsed.output);
    return url === undefined ? { url: urlServer, fallback: 'the load balancer named no usable node' } : { url };
  } catch (err) {
    const why = controller.signal.aborted ? `no answer within ${timeoutMs} ms` : errorText(err);
    return { url: urlServer, fallback: `the load balancer failed: ${why}` };
  } finally {
    clearTimeout(timer);
  }
}
