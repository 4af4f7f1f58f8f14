/** The pure parts of WHIP/WHEP: the trickle fragment parser, ICE_SERVERS and its Link headers, If-Match. */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { IceServersVar, iceServerLinks, ifMatch, parseTrickleFragment } from './index.ts';

const C1 = 'candidate:1 1 udp 2122260223 127.0.0.2 50000 typ host';
const C2 = 'candidate:2 1 udp 1686052607 203.0.113.9 40000 typ srflx raddr 127.0.0.2 rport 50000';

describe('parseTrickleFragment', () => {
  it('reads ufrag, pwd, candidates with their mid and index, and end-of-candidates (RFC 8840 example shape)', () => {
    const frag = ['a=ice-ufrag:EsAw', 'a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1', 'm=audio 9 RTP/AVP 0', 'a=mid:0', `a=${C1}`, 'm=video 9 RTP/AVP 0', 'a=mid:1', `a=${C2}`, 'a=end-of-candidates', ''].join('\r\n');
    expect(parseTrickleFragment(frag)).toEqual({
      ufrag: 'EsAw',
      pwd: 'P2uYro0UCOQ4zxjKXaWCBui1',
      candidates: [
        { candidate: C1, sdpMid: '0', sdpMLineIndex: 0 },
        { candidate: C2, sdpMid: '1', sdpMLineIndex: 1 },
      ],
      ended: true,
    });
  });

  it('takes credentials from inside an m-section, a section without mid by index, and LF line ends', () => {
    const frag = ['m=audio 9 RTP/AVP 0', 'a=ice-ufrag:abc', 'a=ice-pwd:xyzxyzxyzxyzxyzxyzxyzxyz', `a=${C1}`].join('\n');
    expect(parseTrickleFragment(frag)).toEqual({ ufrag: 'abc', pwd: 'xyzxyzxyzxyzxyzxyzxyzxyz', candidates: [{ candidate: C1, sdpMLineIndex: 0 }], ended: false });
  });

  it('keeps a candidate repeated for each bundled mid once, and reads component 0 (@eyevinn/whip-web-client) as 1', () => {
    const eyevinn = ['a=ice-ufrag:u', 'a=ice-pwd:pppppppppppppppppppppppp', 'm=audio 9 RTP/AVP 0', 'a=mid:0', 'a=candidate:9 0 udp 2122260223 127.0.0.2 50000 typ host', 'm=audio 9 RTP/AVP 0', 'a=mid:1', 'a=candidate:9 0 udp 2122260223 127.0.0.2 50000 typ host', ''].join('\r\n');
    expect(parseTrickleFragment(eyevinn).candidates).toEqual([{ candidate: 'candidate:9 1 udp 2122260223 127.0.0.2 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 }]);
  });

  it('an end-of-candidates alone is a valid fragment', () => {
    expect(parseTrickleFragment('a=end-of-candidates\r\n')).toEqual({ ufrag: undefined, pwd: undefined, candidates: [], ended: true });
  });

  it('refuses an empty body, a malformed candidate, stray text and two ufrags, naming the problem', () => {
    expect(() => parseTrickleFragment('  ')).toThrow('it is empty');
    expect(() => parseTrickleFragment('a=candidate:1 1 udp\r\n')).toThrow('line 1: a candidate is');
    expect(() => parseTrickleFragment('hello\r\n')).toThrow('line 1 is not "<letter>=<value>"');
    expect(() => parseTrickleFragment('a=ice-ufrag:a\r\nm=audio 9 RTP/AVP 0\r\na=ice-ufrag:b\r\n')).toThrow('two ICE username fragments');
  });

  it('refuses more than 64 candidates', () => {
    const many = Array.from({ length: 65 }, (_, i) => `a=candidate:${i} 1 udp 1 127.0.0.2 ${1000 + i} typ host`).join('\r\n');
    expect(() => parseTrickleFragment(many)).toThrow('more than 64 candidates');
  });
});

describe('ICE_SERVERS', () => {
  it('parses the RTCIceServer shape and makes one Link per URL', () => {
    const servers = v.parse(IceServersVar, '[{"urls": ["stun:a.example:3478", "stun:b.example"]}, {"urls": "turns:t.example:443?transport=tcp", "username": "u", "credential": "c"}]');
    expect(iceServerLinks(servers ?? [])).toEqual([
      '<stun:a.example:3478>; rel="ice-server"',
      '<stun:b.example>; rel="ice-server"',
      '<turns:t.example:443?transport=tcp>; rel="ice-server"; username="u"; credential="c"; credential-type="password"',
    ]);
  });

  it('refuses what is not JSON, other schemes, a quote in a credential, and a username without credential', () => {
    const issue = (text: string): string | undefined => {
      const r = v.safeParse(IceServersVar, text);
      return r.success ? undefined : r.issues[0]?.message;
    };
    expect(issue('stun:a')).toContain('ICE_SERVERS must be JSON');
    expect(issue('[{"urls": "https://a"}]')).toContain('stun:, stuns:, turn: or turns:');
    expect(issue('[{"urls": "turn:a", "username": "u", "credential": "c\\"d"}]')).toContain('must not contain quotes');
    expect(issue('[{"urls": "turn:a", "username": "u"}]')).toBe('ICE_SERVERS: username and credential go together');
  });
});

describe('ifMatch', () => {
  it('tells absent, any, a match in a list, and a mismatch (weak tags never match)', () => {
    expect(ifMatch(null, '"a"')).toBe('absent');
    expect(ifMatch(' * ', '"a"')).toBe('any');
    expect(ifMatch('"b", "a"', '"a"')).toBe('match');
    expect(ifMatch('W/"a"', '"a"')).toBe('mismatch');
  });
});
