import { describe, expect, it } from 'vitest';
import { agentSecret } from './credentials.ts';

describe('agentSecret', () => {
  it('is HMAC-SHA256(BRIDGE_SECRET, "fanout-agent:<node>") in base64url: one per node, none of them the secret', async () => {
    const master = 'bridge-secret-0123456789abcdef';
    const origin = await agentSecret(master, 'origin');
    // printf 'fanout-agent:origin' | openssl dgst -sha256 -hmac "$master" -binary | base64 | tr '+/' '-_' | tr -d '='
    expect(origin).toBe('uCdXMw1G29Tzz_Isnw8gx42sWunkT3eIRYMyson2Txw');
    const edge = await agentSecret(master, 'edge-1');
    expect(edge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(edge).not.toBe(origin);
    expect(await agentSecret('another-secret-0123456789', 'origin')).not.toBe(origin);
  });
});
