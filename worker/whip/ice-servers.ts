/**
 * The STUN/TURN servers WHIP and WHEP clients are told about: the `ICE_SERVERS` variable (JSON, the
 * RTCIceServer shape) validated once, and its `Link: <url>; rel="ice-server"` headers (RFC 9725
 * §4.6, one per URL). Runtime-free.
 *
 *   ICE_SERVERS = '[{"urls": "stun:stun.example.net:3478"},
 *                   {"urls": ["turn:turn.example.net:3478?transport=udp"], "username": "u", "credential": "p"}]'
 *
 * TURN credentials make the value a secret: set it with `wrangler secret put ICE_SERVERS` then.
 */
import * as v from 'valibot';

/** Most servers and URLs accepted (each URL is one Link header value). */
export const MAX_ICE_URLS = 16;

// Link parameters are quoted strings: no quotes, backslashes or control characters in them, and
// nothing in a URL that would end the <...> reference early.
const Url = v.pipe(
  v.string(),
  v.regex(/^(stun|stuns|turn|turns):[^\s<>"\\,;]+$/, 'ICE_SERVERS: each url is a stun:, stuns:, turn: or turns: URL without spaces, quotes, <, >, commas or semicolons'),
);
const Quoted = (name: string) =>
  v.pipe(v.string(), v.minLength(1, `ICE_SERVERS: ${name} must not be empty`), v.maxLength(512), v.regex(/^[^"\\\x00-\x1f\x7f]*$/, `ICE_SERVERS: ${name} must not contain quotes, backslashes or control characters`));

export const IceServer = v.pipe(
  v.strictObject({
    urls: v.union([Url, v.pipe(v.array(Url), v.minLength(1, 'ICE_SERVERS: urls must not be empty'))], 'ICE_SERVERS: urls must be a URL or a list of URLs'),
    username: v.optional(Quoted('username')),
    credential: v.optional(Quoted('credential')),
  }, 'ICE_SERVERS: each server is {"urls", "username"?, "credential"?}'),
  v.check((s) => (s.username === undefined) === (s.credential === undefined), 'ICE_SERVERS: username and credential go together'),
);
export type IceServer = v.InferOutput<typeof IceServer>;

/** The variable's text: JSON, a list of servers. */
export const IceServersVar = v.optional(
  v.pipe(
    v.string(),
    v.trim(),
    v.parseJson(undefined, 'ICE_SERVERS must be JSON: a list like [{"urls": "stun:stun.example.net:3478"}]'),
    v.array(IceServer, 'ICE_SERVERS must be a JSON list of {"urls", "username"?, "credential"?}'),
    v.check((list) => list.flatMap(urlsOf).length <= MAX_ICE_URLS, `ICE_SERVERS: at most ${MAX_ICE_URLS} URLs`),
  ),
);

function urlsOf(server: IceServer): string[] {
  return typeof server.urls === 'string' ? [server.urls] : server.urls;
}

/** One `Link` header value per URL, TURN credentials with `credential-type="password"`. */
export function iceServerLinks(servers: readonly IceServer[]): string[] {
  return servers.flatMap((s) =>
    urlsOf(s).map((url) => {
      const creds = s.username !== undefined && s.credential !== undefined ? `; username="${s.username}"; credential="${s.credential}"; credential-type="password"` : '';
      return `<${url}>; rel="ice-server"${creds}`;
    }),
  );
}
