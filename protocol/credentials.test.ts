import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { agentSecret } from './credentials.ts';

describe('agentSecret', () => {
  it('is HMAC-SHA256(BRIDGE_SECRET, "fanout-agent:<node>") in base64url: one per node, none of them the secret', async () => {
    const master = 'bridge-secret-0123456789abcdef';
    const origin = await agentSecret(master, 'origin');
    expect(origin).toBe(createHmac('sha256', master).update('fanout-agent:origin').digest('base64url'));
    expect(origin).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const edge = await agentSecret(master, 'edge-1');
    expect(edge).not.toBe(origin);
    expect(await agentSecret('another-secret-0123456789', 'origin')).not.toBe(origin);
  });
});
