/**
 * Opens a bridge API link from workerd: `fetch(BRIDGE_URL + '/api')` with `Upgrade: websocket` and
 * the bearer secret, then `resp.webSocket.accept()`. Every way this can go wrong becomes a CdnError
 * whose message says what to fix; nothing waits forever (the handshake has its own timeout).
 */
import { agentSecret, BRIDGE_API_PATH, CdnError, Errors, errorText } from '../../protocol/index.ts';
import { BridgeClient, type BridgeClientOptions } from './client.ts';

/** How long the WebSocket handshake with the bridge may take. */
export const BRIDGE_CONNECT_TIMEOUT_MS = 5_000;

export interface ConnectOptions extends BridgeClientOptions {
  /** The bridge's HTTP base (BRIDGE_URL). */
  url: string;
  /** BRIDGE_SECRET; undefined when it is not configured. */
  secret: string | undefined;
  /**
   * The node whose own agent is at `url` (AGENT_URLS): the link presents that node's credential,
   * derived from `secret` (protocol/credentials.ts), never BRIDGE_SECRET itself.
   */
  agentNode?: string | undefined;
  connectTimeoutMs?: number;
}

export const MISSING_SECRET_MESSAGE =
  'BRIDGE_SECRET is not set for the worker: put BRIDGE_SECRET=<secret> in .dev.vars (or the --env-file) ' +
  'locally, or run `wrangler secret put BRIDGE_SECRET` in production';

/** Connects to the bridge API and returns a ready client. */
export async function connectBridge(opts: ConnectOptions): Promise<BridgeClient> {
  if (opts.secret === undefined || opts.secret === '') throw new CdnError('FAILED_PRECONDITION', MISSING_SECRET_MESSAGE);
  const apiUrl = opts.url.replace(/\/+$/, '') + BRIDGE_API_PATH;
  const bearer = opts.agentNode === undefined ? opts.secret : await credentialOf(opts.secret, opts.agentNode);
  const timeoutMs = opts.connectTimeoutMs ?? BRIDGE_CONNECT_TIMEOUT_MS;
  // The abort must only cover the handshake: aborting the fetch later (as AbortSignal.timeout
  // would) tears down the upgraded WebSocket too, so the timer is cleared once the response is in.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let resp: Response;
  try {
    resp = await fetch(apiUrl, {
      headers: { Upgrade: 'websocket', Authorization: `Bearer ${bearer}` },
      signal: abort.signal,
    });
  } catch (err) {
    if (abort.signal.aborted) throw new CdnError('TIMEOUT', `the bridge at ${apiUrl} did not accept a connection within ${timeoutMs} ms`);
    throw new CdnError('UNAVAILABLE', `the bridge at ${apiUrl} is unreachable: ${errorText(err)}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  const ws = resp.webSocket;
  if (ws === null) {
    const body = await readSnippet(resp);
    // The bridge refusing the worker's own secret is the operator's to fix: BRIDGE_UNAUTHENTICATED
    // (502), never the 401 a client's bad token gets.
    if (resp.status === 401 || resp.status === 403) throw Errors.bridgeSecretRefused(apiUrl, resp.status);
    throw new CdnError(
      'UNAVAILABLE',
      `the bridge at ${apiUrl} answered HTTP ${resp.status} instead of a WebSocket upgrade${body === '' ? '' : `: ${body}`}`,
    );
  }
  ws.accept();
  const client = new BridgeClient(
    {
      send: (text) => ws.send(text),
      close: (code, reason) => ws.close(code, reason),
    },
    { ...opts, label: opts.label ?? apiUrl },
  );
  ws.addEventListener('message', (ev) => client.receive(ev.data));
  ws.addEventListener('close', (ev) => {
    client.handleClose(ev.code, ev.reason);
  });
  ws.addEventListener('error', () => client.handleClose(1006, 'socket error'));
  return client;
}

/** Agent credentials derived in this isolate (an HMAC per node, not one per link). */
const credentials = new Map<string, Promise<string>>();

function credentialOf(secret: string, node: string): Promise<string> {
  const key = `${node}\n${secret}`;
  let c = credentials.get(key);
  if (c === undefined) credentials.set(key, (c = agentSecret(secret, node)));
  return c;
}

async function readSnippet(resp: Response): Promise<string> {
  try {
    return (await resp.text()).trim().slice(0, 200);
  } catch {
    return '';
  }
}
