import { describe, expect, it } from 'vitest';
import { parseServerFrame } from './protocol.ts';

describe('parseServerFrame', () => {
  it('reads the frames the SDK uses', () => {
    expect(parseServerFrame('{"message":"getUserData","data":[{"authToken":"t"}]}')).toEqual({ message: 'getUserData' });
    expect(parseServerFrame('{"message":"setRemoteSDP","data":["id","v=0\\r\\n"]}')).toEqual({ message: 'setRemoteSDP', mediaSessionId: 'id', sdp: 'v=0\r\n' });
    expect(parseServerFrame('{"message":"notifyStreamStatusEvent","data":[{"mediaSessionId":"id","name":"n","status":"PLAYING","x":1}]}')).toEqual({
      message: 'notifyStreamStatusEvent',
      event: { mediaSessionId: 'id', name: 'n', status: 'PLAYING', x: 1 },
    });
    expect(parseServerFrame('{"message":"redirect","data":[{"mediaSessionId":"id","url":"ws://e/","server":"e","ws":80,"wss":"443"}]}')).toMatchObject({
      message: 'redirect',
      event: { url: 'ws://e/', ws: 80, wss: '443' },
    });
    expect(parseServerFrame('{"message":"ping","data":null}')).toEqual({ message: 'ping' });
    expect(parseServerFrame('{"message":"ping"}')).toEqual({ message: 'ping' });
  });

  it('reads fail frames with or without a stream id', () => {
    expect(parseServerFrame('{"message":"fail","data":[{"apiMethod":"StreamStatusEvent","id":"s1","status":"FAILED","info":"Restricted access"}]}')).toEqual({
      message: 'fail',
      id: 's1',
      status: 'FAILED',
      info: 'Restricted access',
    });
    expect(parseServerFrame('{"message":"fail","data":[{"apiMethod":"sendData"}]}')).toEqual({
      message: 'fail',
      id: undefined,
      status: undefined,
      info: 'sendData failed',
    });
    expect(parseServerFrame('{"message":"fail","data":["plain words"]}')).toMatchObject({ info: 'plain words' });
  });

  it('names the message and the field of a bad frame', () => {
    expect(parseServerFrame('{"message":"setRemoteSDP","data":["id"]}')).toMatchObject({ message: 'invalid', problem: expect.stringContaining('"setRemoteSDP"') });
    expect(parseServerFrame('{"message":"notifyStreamStatusEvent","data":[{"mediaSessionId":"id"}]}')).toMatchObject({
      message: 'invalid',
      problem: expect.stringContaining('data.0.status'),
    });
    expect(parseServerFrame('[1,2]')).toMatchObject({ message: 'invalid' });
    expect(parseServerFrame('{')).toEqual({ message: 'invalid', problem: 'the server sent a frame that is not JSON' });
  });

  it('passes unknown messages as unknown', () => {
    expect(parseServerFrame('{"message":"notifyTransferEvent","data":[{}]}')).toEqual({ message: 'unknown', name: 'notifyTransferEvent' });
  });
});
