/**
 * Every validation error of the WCS WebSocket API, through the worker (workerd): each gets a `fail`
 * frame naming the problem (or FAILED for the stream it would have started), nothing invalid reaches
 * the bridge, and the session stays usable afterwards.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_SDP_LENGTH } from '../../protocol/index.ts';
import { OFFER_SDP, Scenario, type WcsClient, openWcs } from '../testing.ts';
import { DEFAULT_LIMITS } from '../limits/index.ts';

const MAX_FRAME_BYTES = DEFAULT_LIMITS.maxFrameBytes;
const MAX_STREAMS_PER_SESSION = DEFAULT_LIMITS.maxStreamsPerSession;

const ORIGIN = 'http://origin.localhost:8787/';
const NAME_RULE = 'a stream name is 1-128 characters: letters, digits, "_", "-", "." or "~", not starting with "." or "-"';

const clients: WcsClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

async function session(label: string, connect = true): Promise<{ s: Scenario; c: WcsClient }> {
  const s = new Scenario(label);
  const c = await openWcs(ORIGIN, s.env());
  clients.push(c);
  if (connect) await c.connect();
  return { s, c };
}

/** The session still answers: a ping gets its pong. */
async function stillUsable(c: WcsClient): Promise<void> {
  c.send({ message: 'ping', data: [null] });
  await c.next('pong');
  expect(c.closed).toBeUndefined();
}

const pub = (over: Record<string, unknown>): unknown => ({ message: 'publishStream', data: [{ mediaSessionId: 'm1', name: 'cam1', sdp: OFFER_SDP, mediaProvider: 'WebRTC', ...over }] });

describe('frames that are not WCS frames get a session fail and the session stays usable', () => {
  it.each([
    ['bad JSON', '{"message": "connection", ', /^the frame is not valid JSON \(.+\)$/],
    ['a JSON array', '[1, 2]', /^the frame must be \{"message": <name>, "data": \[\.\.\.\]\}: /],
    ['a JSON string', '"connection"', /^the frame must be \{"message": <name>, "data": \[\.\.\.\]\}: /],
    ['no message', '{"data": []}', /: message is required$/],
    ['a number as message', '{"message": 5, "data": []}', /: message: message must be a string naming the request/],
    ['data that is not an array', '{"message": "publishStream", "data": {"name": "x"}}', /: data: data must be an array$/],
  ])('%s', async (_label, text, info) => {
    const { s, c } = await session('val-frame');
    c.sendRaw(text);
    const fail = await c.nextData('fail');
    expect(fail).toMatchObject({ apiMethod: 'frame', code: 'INVALID_ARGUMENT' });
    expect(fail['info']).toMatch(info);
    await stillUsable(c);
    expect((await s.log()).invalid).toEqual([]);
  });

  it('a binary frame is refused with its size', async () => {
    const { c } = await session('val-binary');
    c.sendRaw(new Uint8Array([1, 2, 3, 4]).buffer);
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'frame', code: 'INVALID_ARGUMENT', info: 'binary frames are not accepted (got 4 bytes); send JSON text frames' });
    await stillUsable(c);
  });

  it(`a frame over ${MAX_FRAME_BYTES} bytes is refused with its size and the limit`, async () => {
    const { s, c } = await session('val-oversize');
    const frame = JSON.stringify(pub({ sdp: `v=0\r\n${'a'.repeat(MAX_FRAME_BYTES)}` }));
    c.sendRaw(frame);
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'frame', code: 'INVALID_ARGUMENT', info: `the frame is ${frame.length} bytes; the limit is ${MAX_FRAME_BYTES} bytes` });
    await stillUsable(c);
    expect(await s.requests('publish')).toEqual([]);
  });

  it('an unknown message names itself and lists what the CDN understands', async () => {
    const { c } = await session('val-unknown');
    c.send({ message: 'fooBar', data: [{}] });
    expect(await c.nextData('fail')).toEqual({
      apiMethod: 'fooBar',
      code: 'INVALID_ARGUMENT',
      info: 'unknown message "fooBar"; the CDN understands connection, publishStream, playStream, unPublishStream, stopStream, setRemoteSDP, ping, pong',
    });
    await stillUsable(c);
  });

  it.each([
    ['call', 'SIP calls'],
    ['hangup', 'SIP calls'],
    ['sendData', 'REST application data'],
    ['availableStream', 'stream availability checks'],
    ['snapshot', 'snapshots'],
    ['sendStreamEvent', 'stream events'],
  ])('the WCS message "%s" the CDN does not do gets a fail saying so', async (message, what) => {
    const { s, c } = await session('val-unsupported');
    c.send({ message, data: [{ mediaSessionId: 'x', name: 'cam1' }] });
    expect(await c.nextData('fail')).toEqual({
      apiMethod: message,
      code: 'INVALID_ARGUMENT',
      info: `"${message}" is not supported by the CDN (no ${what}); it publishes and plays WebRTC streams only`,
    });
    await stillUsable(c);
    expect((await s.log()).requests.filter((r) => r.method !== 'nodes')).toEqual([]);
  });
});

describe('publishStream and playStream fields: FAILED for that stream naming the field and the rule', () => {
  it.each([
    ['an invalid stream name', { name: '../etc/passwd' }, `publishStream: data[0].name: ${NAME_RULE}`],
    ['a stream name starting with "-"', { name: '-cam' }, `publishStream: data[0].name: ${NAME_RULE}`],
    ['a 129-character stream name', { name: 'a'.repeat(129) }, `publishStream: data[0].name: ${NAME_RULE}`],
    ['a missing stream name', { name: undefined }, 'publishStream: data[0].name is required'],
    ['a number as stream name', { name: 42 }, 'publishStream: data[0].name: stream name must be a string'],
    ['a missing sdp', { sdp: undefined }, 'publishStream: data[0].sdp is required'],
    ['an sdp that is not a session description', { sdp: 'hello' }, 'publishStream: data[0].sdp: sdp must be a session description starting with "v=0"'],
    [`an sdp over ${MAX_SDP_LENGTH} bytes`, { sdp: `v=0\r\n${'a'.repeat(MAX_SDP_LENGTH)}` }, `publishStream: data[0].sdp: sdp must be at most ${MAX_SDP_LENGTH} bytes`],
    ['a mediaProvider other than WebRTC', { mediaProvider: 'Flash' }, 'publishStream: data[0].mediaProvider: mediaProvider must be "WebRTC" (the CDN publishes and plays over WebRTC only)'],
  ])('%s', async (_label, over, info) => {
    const { s, c } = await session('val-publish');
    c.send(pub(over));
    expect(await c.nextData('fail')).toEqual({
      apiMethod: 'StreamStatusEvent',
      id: 'm1',
      mediaSessionId: 'm1',
      name: !('name' in over) ? 'cam1' : typeof over.name === 'string' ? over.name : '',
      status: 'FAILED',
      info,
      code: 'INVALID_ARGUMENT',
    });
    await stillUsable(c);
    expect(await s.requests('publish')).toEqual([]);
    // The same mediaSessionId is free again: a good publish under it works.
    c.send(pub({}));
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ mediaSessionId: 'm1', status: 'PUBLISHING' });
  });

  it('an invalid stream name on playStream fails that player', async () => {
    const { s, c } = await session('val-play');
    c.send({ message: 'playStream', data: [{ mediaSessionId: 'p1', name: 'bad name', sdp: OFFER_SDP }] });
    expect(await c.nextData('fail')).toMatchObject({ apiMethod: 'StreamStatusEvent', id: 'p1', status: 'FAILED', info: `playStream: data[0].name: ${NAME_RULE}` });
    expect(await s.requests('play')).toEqual([]);
  });

  it('a missing mediaSessionId is a session fail (there is no stream to fail)', async () => {
    const { c } = await session('val-no-id');
    c.send(pub({ mediaSessionId: undefined }));
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'publishStream', code: 'INVALID_ARGUMENT', info: 'publishStream: data[0].mediaSessionId is required' });
    await stillUsable(c);
  });

  it('a number as mediaSessionId is a session fail naming the rule', async () => {
    const { c } = await session('val-id-type');
    c.send(pub({ mediaSessionId: 7 }));
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'publishStream', code: 'INVALID_ARGUMENT', info: 'publishStream: data[0].mediaSessionId: mediaSessionId must be a string' });
  });

  it('a null in place of the stream object is a session fail saying what data[0] must be', async () => {
    const { c } = await session('val-null-data');
    c.send({ message: 'playStream', data: [null] });
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'playStream', code: 'INVALID_ARGUMENT', info: 'playStream: data[0]: must be an object with the stream fields (mediaSessionId, name)' });
    await stillUsable(c);
  });

  it('an empty data array is a session fail naming data[0]', async () => {
    const { c } = await session('val-empty-data');
    c.send({ message: 'publishStream', data: [] });
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'publishStream', code: 'INVALID_ARGUMENT', info: 'publishStream: data[0] is required' });
  });
});

describe('stream bookkeeping errors', () => {
  it('a duplicate mediaSessionId gets a fail and leaves the first stream alone', async () => {
    const { s, c } = await session('val-duplicate');
    c.send(pub({}));
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ mediaSessionId: 'm1', status: 'PUBLISHING' });
    c.send(pub({ name: 'cam2' }));
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'publishStream', code: 'ALREADY_EXISTS', info: 'MediaSessionId is already in use: "m1" (stream "cam2")' });
    expect(await s.requests('publish')).toHaveLength(1);
    c.send({ message: 'unPublishStream', data: [{ mediaSessionId: 'm1', name: 'cam1' }] });
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ mediaSessionId: 'm1', name: 'cam1', status: 'UNPUBLISHED' });
  });

  it(`more than ${MAX_STREAMS_PER_SESSION} streams on one session fails the extra one`, async () => {
    const { c } = await session('val-too-many');
    for (let i = 0; i < MAX_STREAMS_PER_SESSION; i++) c.send(pub({ mediaSessionId: `m${i}`, name: `hang-${i}` }));
    c.send(pub({ mediaSessionId: 'one-more', name: 'cam' }));
    expect(await c.nextData('notifyStreamStatusEvent')).toEqual({
      mediaSessionId: 'one-more',
      name: 'cam',
      published: true,
      status: 'FAILED',
      info: `Too many streams on one session (the limit is ${MAX_STREAMS_PER_SESSION})`,
      code: 'RESOURCE_EXHAUSTED',
    });
  });

  it('unPublishStream of an unknown mediaSessionId gets a NOT_FOUND fail', async () => {
    const { c } = await session('val-unpublish-unknown');
    c.send({ message: 'unPublishStream', data: [{ mediaSessionId: 'nope', name: 'cam1' }] });
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'unPublishStream', code: 'NOT_FOUND', info: 'no published stream with mediaSessionId "nope" on this session' });
    await stillUsable(c);
  });

  it('stopStream of a stream that is published, not played, gets a NOT_FOUND fail', async () => {
    const { c } = await session('val-stop-wrong-kind');
    c.send(pub({}));
    await c.nextData('notifyStreamStatusEvent');
    c.send({ message: 'stopStream', data: [{ mediaSessionId: 'm1' }] });
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'stopStream', code: 'NOT_FOUND', info: 'no playing stream with mediaSessionId "m1" on this session' });
  });

  it('setRemoteSDP for a stream that awaits no answer gets a FAILED_PRECONDITION fail', async () => {
    const { s, c } = await session('val-answer-unknown');
    c.send({ message: 'setRemoteSDP', data: ['p9', OFFER_SDP] });
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'setRemoteSDP', code: 'FAILED_PRECONDITION', info: 'no stream is waiting for an answer with mediaSessionId "p9"' });
    expect(await s.requests('answer')).toEqual([]);
  });

  it('setRemoteSDP with a non-SDP answer names data[1]', async () => {
    const { c } = await session('val-answer-bad');
    c.send({ message: 'setRemoteSDP', data: ['p1', 'not sdp'] });
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'setRemoteSDP', code: 'INVALID_ARGUMENT', info: 'setRemoteSDP: data[1]: sdp must be a session description starting with "v=0"' });
  });
});

describe('session state errors', () => {
  it('publishStream before connection fails that stream with "Session not ready"', async () => {
    const { s, c } = await session('val-not-ready', false);
    c.send(pub({}));
    expect(await c.nextData('fail')).toMatchObject({ apiMethod: 'StreamStatusEvent', id: 'm1', status: 'FAILED', code: 'FAILED_PRECONDITION', info: 'Session not ready: send "connection" first' });
    expect(await s.requests('publish')).toEqual([]);
    await c.connect();
    c.send(pub({}));
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'PUBLISHING' });
  });

  it('a second connection gets a fail and the session stays established', async () => {
    const { c } = await session('val-second-connection');
    c.send({ message: 'connection', data: [{ appKey: 'defaultApp' }] });
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'connection', code: 'FAILED_PRECONDITION', info: 'the session is already established; "connection" is sent once' });
    c.send(pub({}));
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'PUBLISHING' });
  });

  it('connection whose data[0] is an array holding the connection object gets a fail naming data[0], not getUserData', async () => {
    const { c } = await session('val-connection-nested', false);
    c.send({ message: 'connection', data: [[{ appKey: 'x' }]] });
    const fail = await c.nextData('fail');
    expect(fail).toMatchObject({ apiMethod: 'connection', code: 'INVALID_ARGUMENT' });
    expect(fail['info']).toMatch(/^connection: data\[0\]/);
    expect(c.received.map((f) => f.message)).not.toContain('getUserData');
    // The session is not established: a proper connection still works.
    expect(await c.connect()).toMatchObject({ appKey: 'defaultApp' });
  });

  it('connection with a wrongly typed field names it and does not establish the session', async () => {
    const { c } = await session('val-connection-type', false);
    c.send({ message: 'connection', data: [{ appKey: 5 }] });
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'connection', code: 'INVALID_ARGUMENT', info: 'connection: data[0].appKey: appKey must be a string' });
    expect(await c.connect()).toMatchObject({ appKey: 'defaultApp' });
  });
});
