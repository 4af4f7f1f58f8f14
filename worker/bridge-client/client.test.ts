import { describe, expect, it, vi } from 'vitest';
import * as v from 'valibot';
import { BRIDGE_RELEASE_CLOSE_CODE, CdnError, type BridgeEvent } from '../../protocol/index.ts';
import { BridgeClient, LINK_LOST_CLOSE_CODE } from './client.ts';

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
/** A publish id as the worker names them (newMediaId). */
const PUB = 'pub_AAAAAAAAAAAAAAAA';
const Sent = v.object({ id: v.number(), method: v.string(), params: v.unknown() });

function setup(opts: ConstructorParameters<typeof BridgeClient>[1] = {}) {
  const sent: v.InferOutput<typeof Sent>[] = [];
  const closes: { code: number; reason: string }[] = [];
  const client = new BridgeClient(
    {
      send: (text) => sent.push(v.parse(Sent, JSON.parse(text))),
      close: (code, reason) => closes.push({ code, reason }),
    },
    opts,
  );
  const reply = (msg: unknown): void => client.receive(JSON.stringify(msg));
  return { client, sent, closes, reply };
}

async function rejection(p: Promise<unknown>): Promise<CdnError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CdnError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('BridgeClient requests', () => {
  it('sends each request with a new id and resolves with the validated result', async () => {
    const { client, sent, reply } = setup();
    const a = client.request('nodes', {});
    const b = client.request('publish', { publishId: PUB, node: 'origin', stream: 'cam', sdp: SDP });
    expect(sent.map((s) => [s.id, s.method])).toEqual([
      [1, 'nodes'],
      [2, 'publish'],
    ]);
    expect(sent[1]?.params).toEqual({ publishId: PUB, node: 'origin', stream: 'cam', sdp: SDP });
    reply({ id: 2, result: { sdp: SDP } });
    reply({ id: 1, result: { mode: 'ROUNDROBIN', loadBalancing: true, nodes: [] } });
    await expect(b).resolves.toEqual({ sdp: SDP });
    await expect(a).resolves.toEqual({ mode: 'ROUNDROBIN', loadBalancing: true, nodes: [] });
    expect(client.pendingCount).toBe(0);
  });

  it('rejects a result that breaks the method schema with INTERNAL naming the field', async () => {
    const { client, reply } = setup();
    const p = client.request('publish', { publishId: PUB, node: 'origin', stream: 'cam', sdp: SDP });
    reply({ id: 1, result: { sdp: 7 } });
    const err = await rejection(p);
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toContain('invalid "publish" result: sdp');
  });

  it('turns a bridge error into a CdnError with its code and Janus code', async () => {
    const { client, reply } = setup();
    const p = client.request('publish', { publishId: PUB, node: 'origin', stream: 'cam', sdp: SDP });
    reply({ id: 1, error: { code: 'JANUS', message: '436 already published', janusCode: 436 } });
    const err = await rejection(p);
    expect([err.code, err.message, err.janusCode]).toEqual(['JANUS', '436 already published', 436]);
  });

  it('refuses invalid params before sending them, naming the field', async () => {
    const { client, sent } = setup();
    const err = await rejection(client.request('publish', { publishId: PUB, node: 'origin', stream: '../etc', sdp: SDP }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/^publish: stream: a stream name is 1-128 characters/);
    expect(sent).toHaveLength(0);
  });

  it('times a request out with TIMEOUT and ignores its late reply', async () => {
    vi.useFakeTimers();
    try {
      const { client, reply } = setup({ timeoutMs: 50 });
      const p = client.request('ping', {});
      const caught = rejection(p);
      vi.advanceTimersByTime(51);
      const err = await caught;
      expect([err.code, err.message]).toEqual(['TIMEOUT', 'the bridge did not answer "ping" within 50 ms']);
      expect(() => reply({ id: 1, result: { time: 1 } })).not.toThrow();
      expect(client.pendingCount).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('BridgeClient close', () => {
  it('a peer close rejects every pending request with UNAVAILABLE and reports the reason once', async () => {
    const onClose = vi.fn();
    const { client } = setup({ onClose, label: 'http://127.0.0.1:1/api' });
    const a = rejection(client.request('ping', {}));
    const b = rejection(client.request('nodes', {}));
    client.handleClose(1012, 'restarting');
    client.handleClose(1006, 'again');
    for (const err of [await a, await b]) {
      expect(err.code).toBe('UNAVAILABLE');
      expect(err.message).toBe('the connection to the bridge at http://127.0.0.1:1/api closed (code 1012: restarting)');
    }
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(client.closed).toBe(true);
  });

  it('close() is safe twice, closes the socket once with the release code, and later requests fail at once', async () => {
    const { client, closes, sent } = setup();
    const pending = rejection(client.request('ping', {}));
    client.close('done');
    client.close('done again');
    expect(BRIDGE_RELEASE_CLOSE_CODE).toBe(1000);
    expect(closes).toEqual([{ code: BRIDGE_RELEASE_CLOSE_CODE, reason: 'done' }]);
    expect((await pending).code).toBe('UNAVAILABLE');
    expect((await rejection(client.request('ping', {}))).code).toBe('UNAVAILABLE');
    expect(sent).toHaveLength(1);
  });

  it('close() survives a transport that throws because the socket is already gone', () => {
    const client = new BridgeClient({
      send: () => undefined,
      close: () => {
        throw new Error('already closed');
      },
    });
    expect(() => client.close()).not.toThrow();
  });
});

describe('BridgeClient events', () => {
  it('delivers valid events to onEvent', () => {
    const events: BridgeEvent[] = [];
    const { reply } = setup({ onEvent: (e) => events.push(e) });
    reply({ event: 'publisher', publishId: PUB, stream: 'cam', status: 'PUBLISHING' });
    expect(events).toEqual([{ event: 'publisher', publishId: PUB, stream: 'cam', status: 'PUBLISHING' }]);
  });

  it('drops invalid events, non-JSON and binary frames without throwing', () => {
    const onEvent = vi.fn();
    const { client, reply } = setup({ onEvent });
    reply({ event: 'publisher', publishId: PUB, stream: 'cam', status: 'SINGING' });
    client.receive('{nope');
    client.receive(new ArrayBuffer(4));
    expect(onEvent).not.toHaveBeenCalled();
  });

  it('survives a listener that throws, and keeps serving replies', async () => {
    const { client, reply } = setup({
      onEvent: () => {
        throw new Error('listener bug');
      },
    });
    const p = client.request('ping', {});
    expect(() => reply({ event: 'node', node: { id: 'origin', role: 'origin', host: 'h', up: true, since: 0, load: { publishers: 0, subscribers: 0 } } })).not.toThrow();
    reply({ id: 1, result: { time: 5 } });
    await expect(p).resolves.toEqual({ time: 5 });
  });
});

describe('BridgeClient keep-alive', () => {
  it('pings the bridge every period and keeps a link that answers', async () => {
    vi.useFakeTimers();
    try {
      const { client, sent, closes, reply } = setup({ keepAliveMs: 1000 });
      await vi.advanceTimersByTimeAsync(1000);
      expect(sent.map((s) => s.method)).toEqual(['ping']);
      reply({ id: sent[0]?.id, result: { time: 1 } });
      await vi.advanceTimersByTimeAsync(1000);
      expect(sent.map((s) => s.method)).toEqual(['ping', 'ping']);
      expect(client.closed).toBe(false);
      expect(closes).toEqual([]);
      client.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('declares the link lost when a ping is unanswered at the next period: closed with a code that is no release, pending requests and onClose get UNAVAILABLE', async () => {
    vi.useFakeTimers();
    try {
      const reasons: CdnError[] = [];
      const { client, closes } = setup({ keepAliveMs: 1000, onClose: (r) => reasons.push(r) });
      const pending = client.request('nodes', {});
      vi.advanceTimersByTime(2000);
      expect(client.closed).toBe(true);
      expect(LINK_LOST_CLOSE_CODE).not.toBe(BRIDGE_RELEASE_CLOSE_CODE);
      expect(closes).toEqual([{ code: LINK_LOST_CLOSE_CODE, reason: 'no answer to keep-alive within 1000 ms' }]);
      expect(reasons[0]?.code).toBe('UNAVAILABLE');
      expect(reasons[0]?.message).toContain('no answer to keep-alive within 1000 ms');
      expect((await rejection(pending)).code).toBe('UNAVAILABLE');
    } finally {
      vi.useRealTimers();
    }
  });

  it('sends no ping with keepAliveMs 0', () => {
    vi.useFakeTimers();
    try {
      const { client, sent } = setup({ keepAliveMs: 0 });
      vi.advanceTimersByTime(60_000);
      expect(sent).toEqual([]);
      client.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
