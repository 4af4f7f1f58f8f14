/**
 * The worker's bindings and its configuration, read from them once per env object and validated
 * with valibot. A bad value fails fast with an error naming the variable and where it is set.
 * A missing BRIDGE_SECRET is not fatal here: it surfaces as a clear error on every path that
 * needs the bridge (health, routing, streams), so the operator sees it where they look.
 */
import * as v from 'valibot';
import { BRIDGE_OWNER_GRACE_MS, BRIDGE_RELINK_WINDOW_MS, BRIDGE_REQUEST_TIMEOUT_MS, CdnError, MAX_SDP_LENGTH, NodeId } from '../protocol/index.ts';
import { MAX_KEYS, MIN_KEY_LENGTH } from './auth/token.ts';
import type { Balancer } from './balancer/durable-object.ts';
import type { Coordinator } from './coordinator/durable-object.ts';
import type { StreamRecord } from './streams/durable-object.ts';
import { IceServersVar, type IceServer } from './whip/ice-servers.ts';
import { DEFAULT_LIMITS, type Limits } from './limits/index.ts';

export interface Env {
  /**
   * The bridge's HTTP base (its API WebSocket is at BRIDGE_URL + "/api"): the default agent, which
   * serves every node AGENT_URLS does not list.
   */
  BRIDGE_URL: string;
  /**
   * Each node's own agent (a control process with the bridge's API), comma-separated `node=url`
   * pairs, e.g. `origin=http://127.0.0.1:8791,edge-1=http://127.0.0.1:8792`. Optional: a node not
   * listed is served at BRIDGE_URL, so with it unset everything goes to the one bridge.
   */
  AGENT_URLS?: string;
  /** Shared secret for the bridge API (`.dev.vars` / `--env-file` locally, `wrangler secret` in production). */
  BRIDGE_SECRET?: string;
  /** Server ping period for WCS sessions (ms, default 10000). */
  WCS_PING_INTERVAL_MS?: string;
  /** A session silent for longer than this is closed (ms, default 3 ping periods). */
  WCS_PING_TIMEOUT_MS?: string;
  /** How long a bridge request may take (ms, default BRIDGE_REQUEST_TIMEOUT_MS). */
  BRIDGE_REQUEST_TIMEOUT_MS?: string;
  /**
   * How long a WCS session whose bridge link was lost keeps re-opening it to re-bind its streams
   * before it fails them (ms, default BRIDGE_RELINK_WINDOW_MS; less than the bridge's grace).
   */
  BRIDGE_RELINK_WINDOW_MS?: string;
  /** Extra comma-separated host names that are the worker's own (static pages and /health). */
  WORKER_HOSTS?: string;
  /**
   * STUN/TURN servers for WHIP/WHEP clients, sent as `Link: rel="ice-server"` headers: JSON, the
   * RTCIceServer shape (see whip/ice-servers.ts). With TURN credentials, make it a secret.
   */
  ICE_SERVERS?: string;
  /**
   * Token signing keys, comma-separated (a secret, like BRIDGE_SECRET). Unset: publishing and
   * playing are open to anyone. Two keys during a rotation: tokens signed by either are accepted.
   */
  FANOUT_TOKEN_KEYS?: string;
  /** Limits (see limits/index.ts for the defaults). */
  WCS_MAX_FRAME_BYTES?: string;
  WCS_MAX_FRAME_DEPTH?: string;
  WCS_MAX_SDP_BYTES?: string;
  WCS_MAX_STREAMS_PER_SESSION?: string;
  WCS_MAX_MESSAGES_PER_SECOND?: string;
  WCS_MAX_SESSIONS_PER_MINUTE?: string;
  BALANCER: DurableObjectNamespace<Balancer>;
  /** Cross-node work when nodes have agents of their own (AGENT_URLS). */
  COORDINATOR: DurableObjectNamespace<Coordinator>;
  /** Each stream name's record: the CDN-wide publish lock when the topology has several origins. */
  STREAM_RECORDS: DurableObjectNamespace<StreamRecord>;
  ASSETS: Fetcher;
}

export const DEFAULT_PING_INTERVAL_MS = 10_000;
/** Silent sessions are dropped after this many unanswered ping periods (unless WCS_PING_TIMEOUT_MS). */
export const MISSED_PINGS_BEFORE_CLOSE = 3;
/** Host names that always belong to the worker itself, never to a node. */
export const BUILTIN_WORKER_HOSTS = ['localhost', '127.0.0.1', '[::1]'] as const;

/**
 * Where each node's agent is: `byNode` from AGENT_URLS, `defaultUrl` (BRIDGE_URL) for the rest.
 * Plain data, so it can be handed to the Balancer Durable Object, which resolves it with
 * agentUrlOf / agentUrlsOf (the one rule, here).
 */
export interface AgentMap {
  readonly defaultUrl: string;
  readonly byNode: Readonly<Record<string, string>>;
}

/** The agent that serves `nodeId`. */
export function agentUrlOf(agents: AgentMap, nodeId: string): string {
  return Object.hasOwn(agents.byNode, nodeId) ? (agents.byNode[nodeId] ?? agents.defaultUrl) : agents.defaultUrl;
}

/**
 * The node whose own agent is at `url` (listed in AGENT_URLS), whose credential a link there
 * presents (protocol/credentials.ts); undefined for a URL AGENT_URLS does not list (the one bridge
 * at BRIDGE_URL, which takes BRIDGE_SECRET itself).
 */
export function agentNodeOf(agents: AgentMap, url: string): string | undefined {
  const nodes = Object.entries(agents.byNode).filter(([, u]) => u === url);
  return nodes.length === 1 ? nodes[0]?.[0] : undefined;
}

/** Every distinct agent URL: the default (BRIDGE_URL) first, then AGENT_URLS' in their order. */
export function agentUrlsOf(agents: AgentMap): string[] {
  return [...new Set([agents.defaultUrl, ...Object.values(agents.byNode)])];
}

export interface Config {
  /** The default agent (BRIDGE_URL): every node AGENT_URLS does not list, and sessions with no node. */
  bridgeUrl: string;
  agents: AgentMap;
  /** The agent of `nodeId` (agentUrlOf). */
  agentUrl(nodeId: string): string;
  /** Every distinct agent URL, BRIDGE_URL first (agentUrlsOf). */
  agentUrls: readonly string[];
  /** The node whose credential a link to `url` presents (agentNodeOf). */
  agentNodeOf(url: string): string | undefined;
  /** Undefined when the secret is not set: bridge connections then fail with a clear message. */
  bridgeSecret: string | undefined;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  bridgeRequestTimeoutMs: number;
  relinkWindowMs: number;
  workerHosts: readonly string[];
  /** STUN/TURN servers announced to WHIP/WHEP clients (none by default). */
  iceServers: readonly IceServer[];
  /** Token signing keys; empty: no tokens needed. */
  tokenKeys: readonly string[];
  limits: Limits;
}

const Millis = (name: string, min: number, max: number) =>
  v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^\d+$/, `${name} must be a whole number of milliseconds`),
      v.transform(Number),
      v.minValue(min, `${name} must be at least ${min} ms`),
      v.maxValue(max, `${name} must be at most ${max} ms`),
    ),
  );

const Count = (name: string, min: number, max: number) =>
  v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^\d+$/, `${name} must be a whole number`),
      v.transform(Number),
      v.minValue(min, `${name} must be at least ${min}`),
      v.maxValue(max, `${name} must be at most ${max}`),
    ),
  );

const TokenKeys = v.optional(
  v.pipe(
    v.string(),
    v.transform((s) => s.split(',').map((k) => k.trim()).filter((k) => k !== '')),
    v.maxLength(MAX_KEYS, `FANOUT_TOKEN_KEYS holds at most ${MAX_KEYS} comma-separated keys`),
    v.check((keys) => keys.every((k) => k.length >= MIN_KEY_LENGTH), `FANOUT_TOKEN_KEYS: every key must be at least ${MIN_KEY_LENGTH} characters (npm run token -- --new-key makes one)`),
  ),
);

/** An agent's HTTP base (BRIDGE_URL, an AGENT_URLS url): the worker upgrades `<url>/api` to a WebSocket. */
const HttpBase = (what: string) =>
  v.pipe(
    v.string(),
    v.url(`${what} must be a URL such as "http://127.0.0.1:8790"`),
    v.regex(/^https?:\/\//, `${what} must be an http:// or https:// URL (the worker upgrades it to a WebSocket)`),
  );

const withoutTrailingSlash = (url: string): string => url.replace(/\/+$/, '');

/**
 * AGENT_URLS: `node=url` pairs, comma-separated (empty entries ignored). Every problem names the
 * pair and the rule it breaks; a node listed twice is refused rather than one of its urls guessed.
 * Node ids follow the topology's rule (protocol/api.ts NodeId, the same pattern as
 * bridge/topology's NODE_ID_PATTERN).
 */
const AgentUrlsVar = v.optional(
  v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const byNode: Record<string, string> = {};
      const pairs = dataset.value.split(',').map((p) => p.trim()).filter((p) => p !== '');
      for (const pair of pairs) {
        const problem = pairProblem(pair, byNode);
        if (problem !== undefined) {
          addIssue({ message: `AGENT_URLS: "${pair}": ${problem} (the form is node=url, comma-separated, e.g. "edge-1=http://127.0.0.1:8792")` });
          return NEVER;
        }
        const at = pair.indexOf('=');
        byNode[pair.slice(0, at).trim()] = withoutTrailingSlash(pair.slice(at + 1).trim());
      }
      return byNode;
    }),
  ),
);

/** What is wrong with one AGENT_URLS pair (undefined: nothing), given the pairs read before it. */
function pairProblem(pair: string, seen: Readonly<Record<string, string>>): string | undefined {
  const at = pair.indexOf('=');
  if (at < 0) return 'there is no "=" between the node id and the url';
  const node = pair.slice(0, at).trim();
  const url = pair.slice(at + 1).trim();
  if (node === '') return 'there is no node id before "="';
  if (!v.is(NodeId, node)) return `"${node}" is not a node id: lowercase letters, digits and dashes, starting with a letter, at most 32 characters (e.g. "edge-1")`;
  if (Object.hasOwn(seen, node)) return `node ${node} is listed twice: a node has one agent`;
  if (url === '') return `node ${node} has no url after "="`;
  const checked = v.safeParse(HttpBase(`the url of node ${node}`), url);
  return checked.success ? undefined : checked.issues[0].message;
}

const ConfigVars = v.object({
  BRIDGE_URL: v.pipe(v.string('BRIDGE_URL is required: the bridge\'s HTTP base, e.g. "http://127.0.0.1:8790"'), HttpBase('BRIDGE_URL')),
  AGENT_URLS: AgentUrlsVar,
  BRIDGE_SECRET: v.optional(v.string()),
  WCS_PING_INTERVAL_MS: Millis('WCS_PING_INTERVAL_MS', 50, 600_000),
  WCS_PING_TIMEOUT_MS: Millis('WCS_PING_TIMEOUT_MS', 100, 3_600_000),
  BRIDGE_REQUEST_TIMEOUT_MS: Millis('BRIDGE_REQUEST_TIMEOUT_MS', 10, 600_000),
  // Past the bridge's grace there is nothing left to re-bind.
  BRIDGE_RELINK_WINDOW_MS: Millis('BRIDGE_RELINK_WINDOW_MS', 50, BRIDGE_OWNER_GRACE_MS),
  WORKER_HOSTS: v.optional(v.string()),
  ICE_SERVERS: IceServersVar,
  FANOUT_TOKEN_KEYS: TokenKeys,
  // 1 MiB is far more than any WCS frame needs (an SDP is at most 64 KiB).
  WCS_MAX_FRAME_BYTES: Count('WCS_MAX_FRAME_BYTES', 1024, 1024 * 1024),
  WCS_MAX_FRAME_DEPTH: Count('WCS_MAX_FRAME_DEPTH', 4, 1000),
  // The bridge refuses SDPs over MAX_SDP_LENGTH whatever the worker allows.
  WCS_MAX_SDP_BYTES: Count('WCS_MAX_SDP_BYTES', 1024, MAX_SDP_LENGTH),
  WCS_MAX_STREAMS_PER_SESSION: Count('WCS_MAX_STREAMS_PER_SESSION', 1, 10_000),
  WCS_MAX_MESSAGES_PER_SECOND: Count('WCS_MAX_MESSAGES_PER_SECOND', 1, 1_000_000),
  WCS_MAX_SESSIONS_PER_MINUTE: Count('WCS_MAX_SESSIONS_PER_MINUTE', 0, 1_000_000_000),
});

const cache = new WeakMap<object, Config>();

/**
 * The validated configuration for `env`.
 * @throws CdnError FAILED_PRECONDITION naming the variable when a value is invalid.
 */
export function readConfig(env: Env): Config {
  const hit = cache.get(env);
  if (hit !== undefined) return hit;
  const parsed = v.safeParse(ConfigVars, env);
  if (!parsed.success) {
    // Every rule's message names its variable (see ConfigVars), so the message alone says what to fix.
    throw new CdnError('FAILED_PRECONDITION', `worker configuration: ${parsed.issues[0].message} (set in wrangler.toml [vars], .dev.vars or --var)`);
  }
  const vars = parsed.output;
  const pingIntervalMs = vars.WCS_PING_INTERVAL_MS ?? DEFAULT_PING_INTERVAL_MS;
  const secret = vars.BRIDGE_SECRET?.trim();
  const agents: AgentMap = { defaultUrl: withoutTrailingSlash(vars.BRIDGE_URL), byNode: vars.AGENT_URLS ?? {} };
  const config: Config = {
    bridgeUrl: agents.defaultUrl,
    agents,
    agentUrl: (nodeId) => agentUrlOf(agents, nodeId),
    agentUrls: agentUrlsOf(agents),
    agentNodeOf: (url) => agentNodeOf(agents, url),
    bridgeSecret: secret === undefined || secret === '' ? undefined : secret,
    pingIntervalMs,
    pingTimeoutMs: vars.WCS_PING_TIMEOUT_MS ?? pingIntervalMs * MISSED_PINGS_BEFORE_CLOSE,
    bridgeRequestTimeoutMs: vars.BRIDGE_REQUEST_TIMEOUT_MS ?? BRIDGE_REQUEST_TIMEOUT_MS,
    relinkWindowMs: vars.BRIDGE_RELINK_WINDOW_MS ?? BRIDGE_RELINK_WINDOW_MS,
    iceServers: vars.ICE_SERVERS ?? [],
    workerHosts: [
      ...BUILTIN_WORKER_HOSTS,
      ...(vars.WORKER_HOSTS ?? '')
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter((h) => h !== ''),
    ],
    tokenKeys: vars.FANOUT_TOKEN_KEYS ?? [],
    limits: {
      maxFrameBytes: vars.WCS_MAX_FRAME_BYTES ?? DEFAULT_LIMITS.maxFrameBytes,
      maxFrameDepth: vars.WCS_MAX_FRAME_DEPTH ?? DEFAULT_LIMITS.maxFrameDepth,
      maxSdpBytes: vars.WCS_MAX_SDP_BYTES ?? DEFAULT_LIMITS.maxSdpBytes,
      maxStreamsPerSession: vars.WCS_MAX_STREAMS_PER_SESSION ?? DEFAULT_LIMITS.maxStreamsPerSession,
      maxMessagesPerSecond: vars.WCS_MAX_MESSAGES_PER_SECOND ?? DEFAULT_LIMITS.maxMessagesPerSecond,
      maxSessionsPerMinute: vars.WCS_MAX_SESSIONS_PER_MINUTE ?? DEFAULT_LIMITS.maxSessionsPerMinute,
    },
  };
  cache.set(env, config);
  return config;
}
