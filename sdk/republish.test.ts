/**
 * A publish placed on another origin (`redirect`, then FAILED "Publish on origin ...") and
 * `republishOnFailure`, against scripted WCS servers in Node: the session's own server (`origin`,
 * where the CDN places publishes) and two origins. Media is the stand-in of
 * test-support/fake-media.ts: each peer connection has its own offer, so the tests see which offer
 * goes where. The media side (a real origin killed under a Chromium publisher) is for the
 * integration suite.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { STREAM_STATUS } from './constants.ts';
import type { Session } from './session.ts';
import type { Stream, StreamOptions } from './stream.ts';
import { fakeMedia, type FakeMedia } from './test-support/fake-media.ts';
import { cleanUp, established, redirectTo, send, servers, until, type Server } from './test-support/wcs-servers.ts';

afterEach(cleanUp);

/** Publishes `cam1` and records every status (FAILED with its info). */
function publishing(s: Session, opts: Partial<StreamOptions> = {}): { stream: Stream; seen: string[] } {
  const seen: string[] = [];
  const stream = s.createStream({ name: 'cam1', bandwidthMonitor: false, ...opts });
  for (const st of [STREAM_STATUS.PENDING, STREAM_STATUS.PUBLISHING, STREAM_STATUS.UNPUBLISHED] as const) stream.on(st, () => seen.push(st));
  stream.on(STREAM_STATUS.FAILED, (_, info) => seen.push(`FAILED ${info}`));
  stream.publish();
  return { stream, seen };
}

function fields(frame: { data: unknown[] }): Record<string, unknown> {
  return frame.data[0] as Record<string, unknown>;
}

function status(ws: WebSocket, id: string, st: string, info?: string): void {
  send(ws, 'notifyStreamStatusEvent', [{ mediaSessionId: id, name: 'cam1', published: true, status: st, ...(info === undefined ? {} : { info }) }]);
}

/** `server`'s `n`-th publishStream is placed on `to` the way the worker does it: redirect, then FAILED. */
async function place(server: Server, n: number, to: Server, id: string): Promise<Record<string, unknown>> {
  const pub = await server.nth('publishStream', n);
  expect(fields(pub.frame)['mediaSessionId']).toBe(id);
  send(pub.ws, 'redirect', [redirectTo(id, to.url, 'cam1')]);
  status(pub.ws, id, 'FAILED', `Publish on origin o2: ${to.url}`);
  return fields(pub.frame);
}

/** `server`'s `n`-th publishStream is answered and PUBLISHING. */
async function accept(server: Server, n: number, id: string): Promise<{ ws: WebSocket; request: Record<string, unknown> }> {
  const pub = await server.nth('publishStream', n);
  expect(fields(pub.frame)['mediaSessionId']).toBe(id);
  send(pub.ws, 'setRemoteSDP', [id, `answer ${n}`]);
  status(pub.ws, id, 'PUBLISHING');
  return { ws: pub.ws, request: fields(pub.frame) };
}

async function start(): Promise<{ origin: Server; a: Server; b: Server; fake: FakeMedia; s: Session }> {
  const { origin, a, b } = await servers();
  const fake = fakeMedia();
  const s = await established(origin, fake.media);
  return { origin, a, b, fake, s };
}

describe('a publish placed on another origin', () => {
  it('follows the redirect: the same offer is published there, FAILED "Publish on origin" is not seen, PUBLISHING there; stop() unpublishes there and closes that connection', async () => {
    const { origin, a, fake, s } = await start();
    const { stream, seen } = publishing(s);
    const asked = await place(origin, 1, a, stream.id());
    const onA = await accept(a, 1, stream.id());
    await until('PUBLISHING', () => seen.includes('PUBLISHING'));
    expect(seen).toEqual(['PENDING', 'PUBLISHING']);
    expect(stream.getServerUrl()).toBe(a.url);
    expect(onA.request).toMatchObject({ name: 'cam1', published: true, hasAudio: true, hasVideo: true, sdp: asked['sdp'] });
    expect(fake.pcs).toHaveLength(1);
    await until('the answer taken', () => fake.pcs[0]?.remoteDescription?.sdp === 'answer 1');

    stream.stop();
    const unpub = await a.nth('unPublishStream');
    expect(fields(unpub.frame)).toMatchObject({ mediaSessionId: stream.id(), name: 'cam1' });
    expect(origin.count('unPublishStream')).toBe(0);
    status(unpub.ws, stream.id(), 'UNPUBLISHED');
    await until('UNPUBLISHED', () => seen.length === 3);
    expect(seen).toEqual(['PENDING', 'PUBLISHING', 'UNPUBLISHED']);
    // The connection to A had no other stream: released with the stream.
    await until('A closed', () => a.closedSockets === 1);
    expect(fake.tracks.every((t) => t.readyState === 'ended')).toBe(true);
  });

  it('fails with a clear reason on an unusable address, and after more redirects in a row than MAX_REDIRECTS', async () => {
    const { origin, a, b, s } = await start();
    const bad = publishing(s);
    const pub = await origin.nth('publishStream', 1);
    send(pub.ws, 'redirect', [{ ...redirectTo(bad.stream.id(), a.url, 'cam1'), url: 'http://nowhere/', server: '' }]);
    await until('FAILED', () => bad.stream.status() === STREAM_STATUS.FAILED);
    expect(bad.seen).toEqual(['PENDING', 'FAILED the server redirected the stream to an unusable address']);

    const loop = publishing(s);
    await place(origin, 2, a, loop.stream.id());
    await place(a, 1, b, loop.stream.id());
    await place(b, 1, a, loop.stream.id());
    await place(a, 2, b, loop.stream.id());
    await until('FAILED', () => loop.stream.status() === STREAM_STATUS.FAILED);
    expect(loop.seen).toEqual(['PENDING', `FAILED too many redirects (last to ${b.url})`]);
    expect(b.count('publishStream')).toBe(1);
  });
});

describe('republishOnFailure', () => {
  it('a publish its origin reports FAILED is published again on the session server, which places it on another origin: PENDING, PUBLISHING, PENDING, PUBLISHING, the camera asked once', async () => {
    const { origin, a, b, fake, s } = await start();
    const { stream, seen } = publishing(s, { republishOnFailure: { delayMs: 10 } });
    await place(origin, 1, a, stream.id());
    const onA = await accept(a, 1, stream.id());
    await until('PUBLISHING', () => seen.includes('PUBLISHING'));

    status(onA.ws, stream.id(), 'FAILED', 'node "origin-1" went down');
    await until('PENDING again', () => seen.length === 3);
    expect(stream.status()).toBe(STREAM_STATUS.PENDING);
    expect(stream.getInfo()).toBe('republishing (attempt 1 of 3) after: node "origin-1" went down');
    const again = await place(origin, 2, b, stream.id());
    const onB = await accept(b, 1, stream.id());
    await until('PUBLISHING again', () => seen.length === 4);
    expect(seen).toEqual(['PENDING', 'PUBLISHING', 'PENDING', 'PUBLISHING']);
    expect(stream.getServerUrl()).toBe(b.url);
    // Same captured media, a new peer connection (its own offer) for the new origin.
    expect(fake.captures).toBe(1);
    expect(fake.pcs).toHaveLength(2);
    expect(fake.pcs[0]?.connectionState).toBe('closed');
    expect(fake.pcs[1]?.senders).toEqual(fake.tracks);
    expect(again['sdp']).toBe(fake.pcs[1]?.offer);
    expect(onB.request['sdp']).toBe(fake.pcs[1]?.offer);
    expect(onA.request['sdp']).toBe(fake.pcs[0]?.offer);
    expect(fake.tracks.every((t) => t.readyState === 'live')).toBe(true);
    // The failed origin's connection had no other stream: it is closed.
    await until('A closed', () => a.closedSockets === 1);

    stream.stop();
    expect(fields((await b.nth('unPublishStream')).frame)).toMatchObject({ mediaSessionId: stream.id() });
  });

  it('a dropped connection to the origin is republished too', async () => {
    const { origin, a, b, s } = await start();
    const { stream, seen } = publishing(s, { republishOnFailure: { delayMs: 10 } });
    await place(origin, 1, a, stream.id());
    const onA = await accept(a, 1, stream.id());
    await until('PUBLISHING', () => seen.includes('PUBLISHING'));
    onA.ws.terminate();
    await place(origin, 2, b, stream.id());
    await accept(b, 1, stream.id());
    await until('PUBLISHING again', () => seen.length === 4);
    expect(seen).toEqual(['PENDING', 'PUBLISHING', 'PENDING', 'PUBLISHING']);
  });

  it('gives up after the attempts in a row: FAILED with the last reason, and the camera released', async () => {
    const { origin, fake, s } = await start();
    const { stream, seen } = publishing(s, { republishOnFailure: { attempts: 2, delayMs: 10 } });
    const first = await accept(origin, 1, stream.id());
    await until('PUBLISHING', () => seen.includes('PUBLISHING'));
    status(first.ws, stream.id(), 'FAILED', 'node "origin-1" went down');
    for (const n of [2, 3]) {
      const again = await origin.nth('publishStream', n);
      status(again.ws, stream.id(), 'FAILED', `No origin can take "cam1": no origin is up (${n})`);
    }
    await until('FAILED', () => stream.status() === STREAM_STATUS.FAILED);
    expect(seen).toEqual(['PENDING', 'PUBLISHING', 'PENDING', 'PENDING', 'FAILED No origin can take "cam1": no origin is up (3)']);
    await new Promise((r) => setTimeout(r, 100));
    expect(origin.count('publishStream')).toBe(3);
    expect(fake.captures).toBe(1);
    expect(fake.tracks.every((t) => t.readyState === 'ended')).toBe(true);
  });

  it('stop() while a republish waits ends the stream (UNPUBLISHED) and asks nothing more', async () => {
    const { origin, fake, s } = await start();
    const { stream, seen } = publishing(s, { republishOnFailure: { delayMs: 200 } });
    const first = await accept(origin, 1, stream.id());
    await until('PUBLISHING', () => seen.includes('PUBLISHING'));
    status(first.ws, stream.id(), 'FAILED', 'node "origin-1" went down');
    await until('PENDING again', () => seen.length === 3);
    stream.stop();
    await new Promise((r) => setTimeout(r, 400));
    expect(seen).toEqual(['PENDING', 'PUBLISHING', 'PENDING', 'UNPUBLISHED']);
    expect(origin.count('publishStream')).toBe(1);
    expect(fake.pcs).toHaveLength(1);
    expect(fake.tracks.every((t) => t.readyState === 'ended')).toBe(true);
  });

  it('off by default: the same failure is FAILED with the server info, and nothing is published again', async () => {
    const { origin, s } = await start();
    const { stream, seen } = publishing(s);
    const first = await accept(origin, 1, stream.id());
    await until('PUBLISHING', () => seen.includes('PUBLISHING'));
    status(first.ws, stream.id(), 'FAILED', 'node "origin-1" went down');
    await until('FAILED', () => seen.length === 3);
    expect(seen).toEqual(['PENDING', 'PUBLISHING', 'FAILED node "origin-1" went down']);
    await new Promise((r) => setTimeout(r, 100));
    expect(origin.count('publishStream')).toBe(1);
  });

  it('is not used for a publish that never reached PUBLISHING, nor one the server no longer has', async () => {
    const { origin, s } = await start();
    const never = publishing(s, { republishOnFailure: { delayMs: 10 } });
    status((await origin.nth('publishStream', 1)).ws, never.stream.id(), 'FAILED', 'Restricted access');
    await until('FAILED', () => never.stream.status() === STREAM_STATUS.FAILED);

    const gone = publishing(s, { republishOnFailure: { delayMs: 10 } });
    const live = await accept(origin, 2, gone.stream.id());
    await until('PUBLISHING', () => gone.seen.includes('PUBLISHING'));
    send(live.ws, 'notifyStreamStatusEvent', [{ mediaSessionId: gone.stream.id(), name: 'cam1', published: true, status: 'FAILED', info: 'CDN stream not found', code: 'NOT_FOUND' }]);
    await until('FAILED', () => gone.stream.status() === STREAM_STATUS.FAILED);

    await new Promise((r) => setTimeout(r, 100));
    expect(never.seen).toEqual(['PENDING', 'FAILED Restricted access']);
    expect(gone.seen).toEqual(['PENDING', 'PUBLISHING', 'FAILED CDN stream not found']);
    expect(origin.count('publishStream')).toBe(2);
  });
});
