/**
 * Each node's agent has a credential of its own, derived from the worker's BRIDGE_SECRET:
 * HMAC-SHA256(BRIDGE_SECRET, "fanout-agent:<node>"), base64url. The worker, which holds
 * BRIDGE_SECRET, derives the credential of the agent it links to; an agent holds only its own, so a
 * node whose secret leaks cannot be used to drive any other node. The one bridge (every node)
 * keeps BRIDGE_SECRET itself. WebCrypto: the same code in workerd and Node.
 */
const PREFIX = 'fanout-agent:';

export async function agentSecret(bridgeSecret: string, node: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', enc.encode(bridgeSecret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, enc.encode(`${PREFIX}${node}`)));
  let bin = '';
  for (const b of mac) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}
