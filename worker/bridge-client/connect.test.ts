import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { CdnError, type BridgeEvent } from '../../protocol/index.ts';
import { Scenario, eventually } from '../testing.ts';
import { MISSING_SECRET_MESSAGE, connectBridge } from './connect.ts';

async function refusal(p: Promise<unknown>): Promise<CdnError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CdnError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('connectBridge (workerd to the bridge stand-in on 127.0.0.1)', () => {
  it('with the right secret opens a link that answers requests and receives events', async () => {
    const s = new Scenario('connect-ok');
    const events: BridgeEvent[] = [];
    const link = await connectBridge({ url: s.url, secret: inject('bridgeSecret'), onEvent: (e) => events.push(e) });
    const nodes = await link.request('nodes', {});
    expect(nodes.nodes.map((n) => n.id)).toEqual(['origin', 'edge-1', 'edge-2']);
    await s.push({ event: 'node', node: { id: 'edge-1', role: 'edge', host: 'edge-1.localhost:8787', up: false, since: 2, load: { publishers: 0, subscribers: 0 } } });
    await eventually(() => events.length === 1, 3_000, 'node event');
    expect(events[0]).toMatchObject({ event: 'node', node: { id: 'edge-1', up: false } });
    link.close();
    await eventually(async () => (await s.log()).closed === 1, 3_000, 'stand-in sees the close');
  });

  it('a link outlives its handshake timeout (the abort covers the handshake only)', async () => {
    const s = new Scenario('connect-outlives-timeout');
    const link = await connectBridge({ url: s.url, secret: inject('bridgeSecret'), connectTimeoutMs: 200 });
    await new Promise((r) => setTimeout(r, 600));
    expect(link.closed).toBe(false);
    await expect(link.request('ping', {})).resolves.toEqual({ time: expect.any(Number) });
    link.close();
  });

  it('without a secret fails at once with FAILED_PRECONDITION saying where to set it', async () => {
    const err = await refusal(connectBridge({ url: new Scenario('no-secret').url, secret: undefined }));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toBe(MISSING_SECRET_MESSAGE);
  });

  it("with a wrong secret fails with BRIDGE_UNAUTHENTICATED (502, the operator's: never a client's 401), and the bridge counted the refusal", async () => {
    const s = new Scenario('bad-secret');
    const err = await refusal(connectBridge({ url: s.url, secret: 'not-the-secret-at-all' }));
    expect(err.code).toBe('BRIDGE_UNAUTHENTICATED');
    expect(err.status).toBe(502);
    expect(err.message).toContain("refused the worker's BRIDGE_SECRET (HTTP 401)");
    expect((await s.log()).unauthorized).toBe(1);
  });

  it('to a port nobody listens on fails with UNAVAILABLE naming the URL', async () => {
    const err = await refusal(connectBridge({ url: 'http://127.0.0.1:9', secret: 'x' }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/^the bridge at http:\/\/127\.0\.0\.1:9\/api is unreachable: /);
  });

  it('to a server that does not upgrade fails with UNAVAILABLE and its HTTP status', async () => {
    const err = await refusal(connectBridge({ url: `${inject('bridgeUrl')}/s/x/not-here`, secret: inject('bridgeSecret') }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain('answered HTTP 404 instead of a WebSocket upgrade');
  });
});
