import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { errorText } from '../../protocol/errors.ts';
import { createLogger } from '../log.ts';
import { loadTopology } from '../topology/index.ts';
import { janodeError, NodeManager } from './index.ts';

/**
 * The `ws` ErrorEvent Janode rejects with when a node's WebSocket cannot open, made by `ws` itself
 * without any network: a socket with no address is only an event target until it is connected.
 */
function wsErrorEvent(cause: Error): Promise<unknown> {
  // A server-side socket (address null) reads its options third, which ws's types leave out.
  const ws: WebSocket = Reflect.construct(WebSocket, [null, undefined, {}]);
  return new Promise((resolve) => {
    ws.addEventListener('error', resolve, { once: true });
    ws.emit('error', cause);
  });
}

describe('janodeError', () => {
  it('turns the ws ErrorEvent of an unreachable node into the Error it carries', async () => {
    const cause = new Error('connect ECONNREFUSED 127.0.0.1:8188');
    const event = await wsErrorEvent(cause);
    expect(event).not.toBeInstanceOf(Error);
    expect(String(event)).toBe('[object Object]');
    expect(janodeError(event)).toBe(cause);
    expect(errorText(janodeError(event))).toBe('connect ECONNREFUSED 127.0.0.1:8188');
  });

  it('keeps an Error, and makes an Error of an object that only has a message', () => {
    const err = new Error('unexpected disconnection');
    expect(janodeError(err)).toBe(err);
    expect(errorText(janodeError({ message: 'socket hang up' }))).toBe('socket hang up');
    expect(janodeError('text')).toBe('text');
  });

  it('logged as a field, an unreachable node\'s error reads as its cause, not "[object Object]"', async () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk.toString());
        done();
      },
    });
    const event = await wsErrorEvent(new Error('connect ECONNREFUSED 127.0.0.1:8188'));
    createLogger('info', {}, stream).warn('janus node unreachable', { node: 'edge-1', err: janodeError(event) });
    const line = JSON.parse(chunks.join('')) as Record<string, unknown>;
    expect(line).toMatchObject({ msg: 'janus node unreachable', node: 'edge-1', err: 'connect ECONNREFUSED 127.0.0.1:8188' });
  });
});

describe('NodeManager of a topology with two origins', () => {
  const topology = loadTopology(new URL('../../test/fixtures/two-origins.xml', import.meta.url).pathname);

  it('knows every origin in topology order, whether it drives them all or one node (an agent)', async () => {
    const all = new NodeManager({ topology, apiSecret: undefined, log: createLogger('silent') });
    const agent = new NodeManager({ topology, apiSecret: undefined, only: 'edge-1', log: createLogger('silent') });
    try {
      expect(all.originIds).toEqual(['origin', 'origin-2']);
      expect(all.all.map((n) => [n.id, n.role])).toEqual([
        ['origin', 'origin'],
        ['edge-1', 'edge'],
        ['edge-2', 'edge'],
        ['origin-2', 'origin'],
      ]);
      expect(agent.originIds).toEqual(['origin', 'origin-2']);
      expect(agent.all.map((n) => n.id)).toEqual(['edge-1']);
    } finally {
      await Promise.all([all.close(), agent.close()]);
    }
  });
});
