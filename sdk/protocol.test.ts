import { describe, expect, it } from 'vitest';
import { parseServerFrame } from './protocol.ts';

describe('parseServerFrame', () => {
  it('reads the frames the SDK uses, keeping fields it does not declare', () => {
    expect(parseServerFrame('{"message":"getUserData","data":[{"sessionId":"s","mediaProviders":["WebRTC"],"authToken":"t"}]}')).toEqual({
      kind: 'frame',
      frame: { message: 'getUserData', data: [{ sessionId: 's', mediaProviders: ['WebRTC'], authToken: 't' }] },
    });
    expect(parseServerFrame('{"message":"setRemoteSDP","data":["id","v=0\\r\\n"]}')).toEqual({ kind: 'frame', frame: { message: 'setRemoteSDP', data: ['id', 'v=0\r\n'] } });
    expect(parseServerFrame('{"message":"notifyStreamStatusEvent","data":[{"mediaSessionId":"id","name":"n","published":false,"status":"PLAYING","x":1}]}')).toEqual({
      kind: 'frame',
      frame: { message: 'notifyStreamStatusEvent', data: [{ mediaSessionId: 'id', name: 'n', published: false, status: 'PLAYING', x: 1 }] },
    });
    expect(parseServerFrame('{"message":"redirect","data":[{"mediaSessionId":"id","name":"n","node":"edge-1","url":"ws://e/","server":"e","ws":80,"wss":443}]}')).toMatchObject({
      kind: 'frame',
      frame: { message: 'redirect', data: [{ url: 'ws://e/', ws: 80, wss: 443 }] },
    });
    // The WCS server's own pings carry no data.
    expect(parseServerFrame('{"message":"ping","data":null}')).toEqual({ kind: 'frame', frame: { message: 'ping', data: null } });
    expect(parseServerFrame('{"message":"ping"}')).toEqual({ kind: 'frame', frame: { message: 'ping' } });
  });

  it('reads fail frames with or without a stream id', () => {
    expect(parseServerFrame('{"message":"fail","data":[{"apiMethod":"StreamStatusEvent","id":"s1","status":"FAILED","info":"Restricted access","code":"UNAUTHENTICATED"}]}')).toEqual({
      kind: 'frame',
      frame: { message: 'fail', data: [{ apiMethod: 'StreamStatusEvent', id: 's1', status: 'FAILED', info: 'Restricted access', code: 'UNAUTHENTICATED' }] },
    });
    expect(parseServerFrame('{"message":"fail","data":[{"apiMethod":"sendData","info":"not supported","code":"INVALID_ARGUMENT"}]}')).toEqual({
      kind: 'frame',
      frame: { message: 'fail', data: [{ apiMethod: 'sendData', info: 'not supported', code: 'INVALID_ARGUMENT' }] },
    });
  });

  it('names the message and the field of a bad frame', () => {
    expect(parseServerFrame('{"message":"setRemoteSDP","data":["id"]}')).toEqual({ kind: 'invalid', problem: 'invalid "setRemoteSDP" frame from the server: data[1]: sdp must be a string' });
    expect(parseServerFrame('{"message":"notifyStreamStatusEvent","data":[{"mediaSessionId":"id","name":"n","published":true}]}')).toEqual({
      kind: 'invalid',
      problem: 'invalid "notifyStreamStatusEvent" frame from the server: data[0].status is required',
    });
    expect(parseServerFrame('{"message":"fail","data":["plain words"]}')).toMatchObject({ kind: 'invalid', problem: expect.stringContaining('data[0]: must be an object') });
    expect(parseServerFrame('{"message":"notifyStreamStatusEvent","data":[[{"mediaSessionId":"id","name":"n","published":true,"status":"PLAYING"}]]}')).toMatchObject({
      kind: 'invalid',
      problem: expect.stringContaining('data[0]: must be an object'),
    });
    expect(parseServerFrame('[1,2]')).toMatchObject({ kind: 'invalid' });
    expect(parseServerFrame('{')).toEqual({ kind: 'invalid', problem: 'the server sent a frame that is not JSON' });
  });

  it('passes unknown messages as unknown', () => {
    expect(parseServerFrame('{"message":"notifyTransferEvent","data":[{}]}')).toEqual({ kind: 'unknown', message: 'notifyTransferEvent' });
  });
});
