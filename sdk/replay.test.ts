/**
 * `replayOnFailure`: a played stream that fails after it played asks the origin again and plays
 * from the edge it is sent to next, against scripted WCS servers in Node (an origin that redirects
 * and two edges). The media side (a real edge killed under a Chromium player) is in
 * test/integration/faults.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { STREAM_STATUS } from './constants.ts';
import type { Session } from './session.ts';
import type { Stream, StreamOptions } from './stream.ts';
import { cleanUp, established, redirectTo, send, servers, until, type Server } from './test-support/wcs-servers.ts';

afterEach(cleanUp);

/** Plays `name` and records every status (FAILED with its info). */
function playing(s: Session, opts: Partial<StreamOptions> = {}): { stream: Stream; seen: string[] } {
  const seen: string[] = [];
  const stream = s.createStream({ name: 'cam1', ...opts });
  for (const st of [STREAM_STATUS.PENDING, STREAM_STATUS.PLAYING, STREAM_STATUS.STOPPED] as const) stream.on(st, () => seen.push(st));
  stream.on(STREAM_STATUS.FAILED, (_, info) => seen.push(`FAILED ${info}`));
  stream.play();
  return { stream, seen };
}

/** The origin's `n`-th playStream is redirected to `edge`, whose next playStream gets PLAYING. */
async function redirectAndPlay(origin: Server, n: number, edge: Server, edgeN: number, id: string): Promise<WebSocket> {
  const play = await origin.nth('playStream', n);
  expect((play.frame.data[0] as Record<string, unknown>)['mediaSessionId']).toBe(id);
  send(play.ws, 'redirect', [redirectTo(id, edge.url, 'cam1')]);
  send(play.ws, 'notifyStreamStatusEvent', [{ mediaSessionId: id, name: 'cam1', published: false, status: 'FAILED', info: 'Play from edge' }]);
  const onEdge = await edge.nth('playStream', edgeN);
  send(onEdge.ws, 'notifyStreamStatusEvent', [{ mediaSessionId: id, name: 'cam1', published: false, status: 'PLAYING' }]);
  return onEdge.ws;
}

describe('replayOnFailure', () => {
  it('a played stream whose edge reports FAILED asks the origin again and plays from the next edge: PENDING, PLAYING, PENDING, PLAYING', async () => {
    const { origin, a, b } = await servers();
    const s = await established(origin);
    const { stream, seen } = playing(s, { replayOnFailure: { delayMs: 10 } });
    const edgeA = await redirectAndPlay(origin, 1, a, 1, stream.id());
    await until('PLAYING', () => seen.includes('PLAYING'));
    expect(stream.getServerUrl()).toBe(a.url);

    send(edgeA, 'notifyStreamStatusEvent', [{ mediaSessionId: stream.id(), name: 'cam1', published: false, status: 'FAILED', info: 'node "edge-1" went down' }]);
    await until('PENDING again', () => seen.length === 3);
    expect(stream.status()).toBe(STREAM_STATUS.PENDING);
    expect(stream.getInfo()).toBe('replaying (attempt 1 of 3) after: node "edge-1" went down');
    await redirectAndPlay(origin, 2, b, 1, stream.id());
    await until('PLAYING again', () => seen.length === 4);
    expect(seen).toEqual(['PENDING', 'PLAYING', 'PENDING', 'PLAYING']);
    expect(stream.getServerUrl()).toBe(b.url);
    // The failed edge's connection had no other stream: it is closed.
    await until('edge A closed', () => a.closedSockets === 1);
  });

  it('off by default: the same failure is FAILED with the server info, and nothing is asked again', async () => {
    const { origin, a } = await servers();
    const s = await established(origin);
    const { stream, seen } = playing(s);
    const edgeA = await redirectAndPlay(origin, 1, a, 1, stream.id());
    await until('PLAYING', () => seen.includes('PLAYING'));
    send(edgeA, 'notifyStreamStatusEvent', [{ mediaSessionId: stream.id(), name: 'cam1', published: false, status: 'FAILED', info: 'node "edge-1" went down' }]);
    await until('FAILED', () => seen.length === 3);
    expect(seen).toEqual(['PENDING', 'PLAYING', 'FAILED node "edge-1" went down']);
    await new Promise((r) => setTimeout(r, 100));
    expect(origin.count('playStream')).toBe(1);
  });

  it('a dropped edge connection is replayed too', async () => {
    const { origin, a, b } = await servers();
    const s = await established(origin);
    const { stream, seen } = playing(s, { replayOnFailure: { delayMs: 10 } });
    const edgeA = await redirectAndPlay(origin, 1, a, 1, stream.id());
    await until('PLAYING', () => seen.includes('PLAYING'));
    edgeA.terminate();
    await redirectAndPlay(origin, 2, b, 1, stream.id());
    await until('PLAYING again', () => seen.length === 4);
    expect(seen).toEqual(['PENDING', 'PLAYING', 'PENDING', 'PLAYING']);
  });

  it('gives up after the attempts in a row: FAILED with the last reason', async () => {
    const { origin, a } = await servers();
    const s = await established(origin);
    const { stream, seen } = playing(s, { replayOnFailure: { attempts: 2, delayMs: 10 } });
    const edgeA = await redirectAndPlay(origin, 1, a, 1, stream.id());
    await until('PLAYING', () => seen.includes('PLAYING'));
    send(edgeA, 'notifyStreamStatusEvent', [{ mediaSessionId: stream.id(), name: 'cam1', published: false, status: 'FAILED', info: 'node "edge-1" went down' }]);
    for (const n of [2, 3]) {
      const again = await origin.nth('playStream', n);
      send(again.ws, 'notifyStreamStatusEvent', [{ mediaSessionId: stream.id(), name: 'cam1', published: false, status: 'FAILED', info: `No edge can play "cam1": no healthy edge (${n})` }]);
    }
    await until('FAILED', () => stream.status() === STREAM_STATUS.FAILED);
    expect(seen).toEqual(['PENDING', 'PLAYING', 'PENDING', 'PENDING', 'FAILED No edge can play "cam1": no healthy edge (3)']);
    await new Promise((r) => setTimeout(r, 100));
    expect(origin.count('playStream')).toBe(3);
  });

  it('is not used for streams that ended (STOPPED), that the server no longer has, or that never played', async () => {
    const { origin, a } = await servers();
    const s = await established(origin);
    const ended = playing(s, { replayOnFailure: { delayMs: 10 } });
    const edgeA = await redirectAndPlay(origin, 1, a, 1, ended.stream.id());
    await until('PLAYING', () => ended.seen.includes('PLAYING'));
    send(edgeA, 'notifyStreamStatusEvent', [{ mediaSessionId: ended.stream.id(), name: 'cam1', published: false, status: 'STOPPED', info: 'the stream ended' }]);
    await until('STOPPED', () => ended.seen.includes('STOPPED'));

    const gone = playing(s, { replayOnFailure: { delayMs: 10 } });
    const edgeA2 = await redirectAndPlay(origin, 2, a, 2, gone.stream.id());
    await until('PLAYING', () => gone.seen.includes('PLAYING'));
    send(edgeA2, 'notifyStreamStatusEvent', [{ mediaSessionId: gone.stream.id(), name: 'cam1', published: false, status: 'FAILED', info: 'CDN stream not found', code: 'NOT_FOUND' }]);
    await until('FAILED', () => gone.stream.status() === STREAM_STATUS.FAILED);

    const never = playing(s, { replayOnFailure: { delayMs: 10 } });
    const play = await origin.nth('playStream', 3);
    send(play.ws, 'notifyStreamStatusEvent', [{ mediaSessionId: never.stream.id(), name: 'cam1', published: false, status: 'FAILED', info: 'No edge can play "cam1"' }]);
    await until('FAILED', () => never.stream.status() === STREAM_STATUS.FAILED);

    await new Promise((r) => setTimeout(r, 100));
    expect(origin.count('playStream')).toBe(3);
    expect(ended.seen).toEqual(['PENDING', 'PLAYING', 'STOPPED']);
    expect(gone.seen).toEqual(['PENDING', 'PLAYING', 'FAILED CDN stream not found']);
    expect(never.seen).toEqual(['PENDING', 'FAILED No edge can play "cam1"']);
  });

  it('stop() while a replay waits ends the stream (STOPPED) and asks nothing more', async () => {
    const { origin, a } = await servers();
    const s = await established(origin);
    const { stream, seen } = playing(s, { replayOnFailure: { delayMs: 200 } });
    const edgeA = await redirectAndPlay(origin, 1, a, 1, stream.id());
    await until('PLAYING', () => seen.includes('PLAYING'));
    send(edgeA, 'notifyStreamStatusEvent', [{ mediaSessionId: stream.id(), name: 'cam1', published: false, status: 'FAILED', info: 'node "edge-1" went down' }]);
    await until('PENDING again', () => seen.length === 3);
    stream.stop();
    await new Promise((r) => setTimeout(r, 400));
    expect(seen).toEqual(['PENDING', 'PLAYING', 'PENDING', 'STOPPED']);
    expect(origin.count('playStream')).toBe(1);
  });
});
