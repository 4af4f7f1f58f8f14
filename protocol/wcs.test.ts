import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { issueText } from './errors.ts';
import { ClientFrame, frames, readServerFrame, ServerFrame } from './wcs.ts';

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\n';

/** The first issue of a client frame, as the worker words it; undefined when the frame is valid. */
function clientProblem(frame: unknown): string | undefined {
  const r = v.safeParse(ClientFrame, frame);
  return r.success ? undefined : issueText(r.issues[0]);
}

function serverProblem(frame: unknown): string | undefined {
  const read = readServerFrame(JSON.stringify(frame));
  return read.kind === 'invalid' ? read.problem : undefined;
}

const connection = { appKey: 'defaultApp', mediaProviders: ['WebRTC'], keepAlive: false, clientVersion: '2.0' };
const stream = { mediaSessionId: 'id-1', name: 'cam1', published: true, mediaProvider: 'WebRTC', sdp: SDP };

describe('ClientFrame', () => {
  it('accepts the frames the WebSDK sends, with the fields the CDN reads past', () => {
    const valid: unknown[] = [
      { message: 'connection', data: [{ ...connection, clientOSVersion: '5.0', clientBrowserVersion: 'Chrome', msePacketizationVersion: 2 }] },
      { message: 'publishStream', data: [{ ...stream, hasVideo: true, hasAudio: true, status: 'PENDING', record: 'yes', bitrate: 0 }] },
      { message: 'playStream', data: [{ mediaSessionId: 'id-2', name: 'cam1', published: false }] },
      { message: 'unPublishStream', data: [{ mediaSessionId: 'id-1', name: 'cam1', published: true }] },
      { message: 'stopStream', data: [{ mediaSessionId: 'id-2' }] },
      { message: 'setRemoteSDP', data: ['id-2', SDP] },
      { message: 'pong', data: [null] },
      { message: 'ping' },
    ];
    for (const frame of valid) expect(clientProblem(frame), JSON.stringify(frame)).toBeUndefined();
  });

  it('a connection frame whose data[0] is an array holding the connection object fails naming data[0]', () => {
    expect(clientProblem({ message: 'connection', data: [[connection]] })).toBe('data[0]: must be an object with the connection fields');
    expect(clientProblem({ message: 'connection', data: [[]] })).toBe('data[0]: must be an object with the connection fields');
  });

  it('every stream message refuses an array, null, a string or a number as data[0], naming data[0]', () => {
    for (const message of ['publishStream', 'playStream', 'unPublishStream', 'stopStream', 'connection']) {
      for (const bad of [[stream], null, 'cam1', 42]) {
        expect(clientProblem({ message, data: [bad] }), `${message} ${JSON.stringify(bad)}`).toMatch(/^data\[0\]: must be an object with the (stream|connection) fields/);
      }
    }
  });

  it('names the field and the rule of a malformed connection', () => {
    expect(clientProblem({ message: 'connection', data: [{ ...connection, authToken: 7 }] })).toBe('data[0].authToken: authToken must be a string');
    expect(clientProblem({ message: 'connection', data: [{ ...connection, mediaProviders: 'WebRTC' }] })).toBe('data[0].mediaProviders: mediaProviders must be an array of strings');
    expect(clientProblem({ message: 'connection', data: [{ ...connection, keepAlive: 'yes' }] })).toBe('data[0].keepAlive: keepAlive must be true or false');
    expect(clientProblem({ message: 'connection', data: [] })).toBe('data[0] is required');
  });

  it('names the field and the rule of a malformed publishStream', () => {
    const { sdp: _sdp, ...noSdp } = stream;
    expect(clientProblem({ message: 'publishStream', data: [noSdp] })).toMatch(/^data\[0\]\.sdp/);
    expect(clientProblem({ message: 'publishStream', data: [{ ...stream, mediaSessionId: '' }] })).toBe('data[0].mediaSessionId: mediaSessionId must not be empty');
    expect(clientProblem({ message: 'publishStream', data: [{ ...stream, mediaProvider: 'Flash' }] })).toMatch(/^data\[0\]\.mediaProvider: mediaProvider must be "WebRTC"/);
    expect(clientProblem({ message: 'publishStream', data: [{ ...stream, sdp: 'hello' }] })).toMatch(/^data\[0\]\.sdp: /);
    expect(clientProblem({ message: 'publishStream', data: [{ ...stream, name: 42 }] })).toMatch(/^data\[0\]\.name: /);
  });

  it('names the field and the rule of a malformed playStream, stop and answer', () => {
    expect(clientProblem({ message: 'playStream', data: [{ name: 'cam1' }] })).toBe('data[0].mediaSessionId is required');
    expect(clientProblem({ message: 'playStream', data: [{ mediaSessionId: 'id', name: 'cam1', published: 'no' }] })).toBe('data[0].published: published must be true or false');
    expect(clientProblem({ message: 'stopStream', data: [{ mediaSessionId: 'x'.repeat(129) }] })).toBe('data[0].mediaSessionId: mediaSessionId must be at most 128 characters');
    expect(clientProblem({ message: 'unPublishStream', data: [{ mediaSessionId: 'id', name: 7 }] })).toBe('data[0].name: name must be a string');
    expect(clientProblem({ message: 'setRemoteSDP', data: ['id'] })).toBe('data[1]: sdp must be a string');
    expect(clientProblem({ message: 'setRemoteSDP', data: [{ mediaSessionId: 'id' }, SDP] })).toBe('data[0]: mediaSessionId must be a string');
    expect(clientProblem({ message: 'ping', data: 'x' })).toBe('data: data must be an array');
  });
});

describe('ServerFrame', () => {
  const status = { mediaSessionId: 'id-1', name: 'cam1', published: false, status: 'PLAYING' } as const;
  const redirect = { mediaSessionId: 'id-1', name: 'cam1', node: 'edge-1', url: 'ws://edge-1.localhost:8787/', server: 'edge-1.localhost', ws: 8787, wss: 443 };

  it('accepts every frame the builders make', () => {
    const built = [
      frames.userData({ sessionId: 's', mediaProviders: ['WebRTC'], node: 'origin', role: 'origin' }),
      frames.remoteSdp('id-1', SDP),
      frames.status({ ...status, info: 'ok', code: 'NOT_FOUND' }),
      frames.fail({ apiMethod: 'StreamStatusEvent', id: 'id-1', mediaSessionId: 'id-1', name: 'cam1', status: 'FAILED', info: 'Restricted access', code: 'PERMISSION_DENIED' }),
      frames.fail({ apiMethod: 'sendData', info: 'not supported', code: 'INVALID_ARGUMENT' }),
      frames.redirect(redirect),
      frames.ping(),
      frames.pong(),
    ];
    for (const frame of built) expect(readServerFrame(JSON.stringify(frame)), frame.message).toEqual({ kind: 'frame', frame });
  });

  it('keeps the fields a reader does not know (a newer worker may add some)', () => {
    expect(readServerFrame(JSON.stringify({ message: 'notifyStreamStatusEvent', data: [{ ...status, status: 'NOT_ENOUGH_BANDWIDTH', lossPercent: 12 }] }))).toEqual({
      kind: 'frame',
      frame: { message: 'notifyStreamStatusEvent', data: [{ ...status, status: 'NOT_ENOUGH_BANDWIDTH', lossPercent: 12 }] },
    });
  });

  it('refuses an array where a data object belongs, naming data[0]', () => {
    for (const [message, obj] of [['getUserData', { sessionId: 's', mediaProviders: [] }], ['notifyStreamStatusEvent', status], ['redirect', redirect], ['fail', { apiMethod: 'x', info: 'y', code: 'INTERNAL' }]] as const) {
      expect(serverProblem({ message, data: [[obj]] }), message).toMatch(new RegExp(`^invalid "${message}" frame from the server: data\\[0\\]: must be an object`));
    }
  });

  it('names the field of each malformed message', () => {
    expect(serverProblem({ message: 'getUserData', data: [{ mediaProviders: [] }] })).toBe('invalid "getUserData" frame from the server: data[0].sessionId is required');
    expect(serverProblem({ message: 'setRemoteSDP', data: ['id'] })).toBe('invalid "setRemoteSDP" frame from the server: data[1]: sdp must be a string');
    expect(serverProblem({ message: 'notifyStreamStatusEvent', data: [{ ...status, status: 'DANCING' }] })).toMatch(/^invalid "notifyStreamStatusEvent" frame from the server: data\[0\]\.status: status must be one of NEW, /);
    expect(serverProblem({ message: 'notifyStreamStatusEvent', data: [{ ...status, code: 'TEAPOT' }] })).toMatch(/data\[0\]\.code: code must be one of/);
    expect(serverProblem({ message: 'fail', data: ['plain words'] })).toBe('invalid "fail" frame from the server: data[0]: must be an object with the failure fields (apiMethod, info, code)');
    expect(serverProblem({ message: 'redirect', data: [{ ...redirect, ws: '8787' }] })).toBe('invalid "redirect" frame from the server: data[0].ws: must be a port number');
    expect(serverProblem({ message: 'ping', data: 'x' })).toBe('the server sent a frame that is not {"message", "data": [...]}: data: data must be an array');
  });

  it('reads an unknown message as unknown, and what is not a frame as invalid', () => {
    expect(readServerFrame('{"message":"notifyTransferEvent","data":[{}]}')).toEqual({ kind: 'unknown', message: 'notifyTransferEvent' });
    expect(readServerFrame('{')).toEqual({ kind: 'invalid', problem: 'the server sent a frame that is not JSON' });
    expect(readServerFrame('[1,2]')).toMatchObject({ kind: 'invalid' });
    expect(readServerFrame('{"data":[]}')).toMatchObject({ kind: 'invalid', problem: expect.stringContaining('message') });
  });

  it('is the type the builders return', () => {
    const frame: ServerFrame = frames.ping();
    expect(v.is(ServerFrame, frame)).toBe(true);
  });
});
