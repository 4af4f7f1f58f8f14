/**
 * The line-level SDP check: real offers pass; injected lines, control characters, absurd ports and
 * too many media sections are refused naming the line.
 */
import { describe, expect, it } from 'vitest';
import { MAX_MEDIA_SECTIONS, sdpProblem } from './sdp.ts';

/** A Chrome offer, abridged but with every kind of line Chrome writes. */
const CHROME_OFFER = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'a=extmap-allow-mixed',
  'a=msid-semantic: WMS 4ad5b4d9-1e8f-4a1e-8d7d-6b6e2a4ad5b4',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:1467250027 1 udp 2122260223 192.168.1.2 54321 typ host generation 0 network-id 1',
  'a=candidate:842163049 1 tcp 1518280447 192.168.1.2 9 typ host tcptype active generation 0',
  'a=candidate:3197193581 1 udp 2113937151 7f2a1e3c-2a1b-4c3d-9e8f-123456789abc.local 61234 typ host generation 0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendonly',
  'a=msid:4ad5b4d9 1e8f4a1e',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=ssrc:1001 cname:abc',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97',
  'c=IN IP4 0.0.0.0',
  'a=mid:1',
  'a=rtpmap:96 VP8/90000',
  'a=rtcp-fb:96 nack pli',
  'a=ssrc-group:FID 2001 2002',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  'a=sctp-port:5000',
  '',
].join('\r\n');

describe('sdpProblem', () => {
  it('passes real offers with CRLF or LF line ends, with or without a final line break', () => {
    expect(sdpProblem(CHROME_OFFER)).toBeUndefined();
    expect(sdpProblem(CHROME_OFFER.replace('s=-', 's=Caméra 漢字 🎥'))).toBeUndefined();
    expect(sdpProblem(CHROME_OFFER.replace(/\r\n/g, '\n'))).toBeUndefined();
    expect(sdpProblem(CHROME_OFFER.trimEnd())).toBeUndefined();
  });

  it.each([
    ['an injected line that is not <letter>=', CHROME_OFFER.replace('s=-', 's=-\r\nINJECTED\r\n'), 'line 4 is not "<letter>=<value>"'],
    ['an empty line inside', CHROME_OFFER.replace('t=0 0', 't=0 0\r\n'), 'line 5 is empty'],
    ['a NUL byte', CHROME_OFFER.replace('s=-', 's=-\u0000x'), 'line 3 contains a control character'],
    ['a bare CR splitting a line', CHROME_OFFER.replace('s=-', 's=-\ra=x'), 'line 3 contains a control character'],
    ['an escape sequence', CHROME_OFFER.replace('s=-', 's=\u001b[31m'), 'line 3 contains a control character'],
    // Regression (fuzz): a lone surrogate made Janus drop the whole request, and the publish hung for the bridge's 10 s timeout.
    ['a lone high surrogate', CHROME_OFFER.replace('a=mid:1', 'a=mid:1\r\na=ssrc:\ud800x'), 'line 28 is not valid Unicode (a lone UTF-16 surrogate)'],
    ['a lone low surrogate', CHROME_OFFER.replace('s=-', 's=\udfff'), 'line 3 is not valid Unicode (a lone UTF-16 surrogate)'],
    ['an m= port over 65535', CHROME_OFFER.replace('m=audio 9 ', 'm=audio 99999 '), 'line 8: port 99999 is not a port (0-65535)'],
    ['an m= port that is not a number', CHROME_OFFER.replace('m=audio 9 ', 'm=audio -1 '), 'line 8: an m= line is "m=<media> <port> <proto> <fmt> ..."'],
    ['a port count of 0', CHROME_OFFER.replace('m=audio 9 ', 'm=audio 9/0 '), 'line 8: port count 0 is out of range'],
    ['a candidate port over 65535', CHROME_OFFER.replace('192.168.1.2 54321', '192.168.1.2 654321'), 'line 11: candidate port 654321 is not a port (0-65535)'],
    ['a candidate without a port', CHROME_OFFER.replace('192.168.1.2 54321 typ', '192.168.1.2 typ'), /^line 11: a candidate is /],
    ['a candidate component of 0', CHROME_OFFER.replace('a=candidate:1467250027 1 udp', 'a=candidate:1467250027 0 udp'), 'line 11: candidate component 0 is out of range (1-256)'],
  ])('refuses %s, naming the line', (_label, sdp, problem) => {
    if (typeof problem === 'string') expect(sdpProblem(sdp)).toBe(problem);
    else expect(sdpProblem(sdp)).toMatch(problem);
  });

  it(`refuses more than ${MAX_MEDIA_SECTIONS} media sections`, () => {
    const many = `v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n${'m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:x\r\n'.repeat(MAX_MEDIA_SECTIONS + 1)}`;
    expect(sdpProblem(many)).toBe(`more than ${MAX_MEDIA_SECTIONS} media sections`);
  });
});
