/**
 * Session descriptions for signalling-only handshakes (no media flows): a publisher offer made once
 * by a real werift peer with its candidates removed, so Janus never sends connectivity checks
 * anywhere, and a recvonly answer derived from Janus's subscriber offer by text. Both are accepted
 * by Janus; neither ever connects, which is the point: the benchmark times the signalling alone.
 */
import { randomBytes } from 'node:crypto';
import { WeriftPublisher } from '../../test/harness/werift-peer.ts';

function lines(sdp: string): string[] {
  return sdp.split(/\r?\n/).filter((l) => l !== '');
}

function join(ls: string[]): string {
  return `${ls.join('\r\n')}\r\n`;
}

/** A sendonly opus + VP8 offer from werift, without candidates. */
export async function publisherOffer(): Promise<string> {
  const pub = new WeriftPublisher({ audio: true, video: 'vp8' });
  try {
    const sdp = await pub.offer();
    return join(lines(sdp).filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates'));
  } finally {
    await pub.close();
  }
}

/** A recvonly answer to Janus's subscriber offer: same m-lines and codecs, our own ICE and DTLS. */
export function answerFor(offer: string): string {
  const ufrag = randomBytes(4).toString('hex');
  const pwd = randomBytes(12).toString('hex');
  const fingerprint = Array.from(randomBytes(32), (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
  const out: string[] = [];
  for (const l of lines(offer)) {
    if (l.startsWith('a=candidate:') || l === 'a=end-of-candidates') continue;
    if (l.startsWith('a=ssrc') || l.startsWith('a=msid') || l.startsWith('a=ice-options')) continue;
    if (l.startsWith('a=ice-ufrag:')) out.push(`a=ice-ufrag:${ufrag}`);
    else if (l.startsWith('a=ice-pwd:')) out.push(`a=ice-pwd:${pwd}`);
    else if (l.startsWith('a=fingerprint:')) out.push(`a=fingerprint:sha-256 ${fingerprint}`);
    else if (l.startsWith('a=setup:')) out.push('a=setup:active');
    else if (l === 'a=sendonly') out.push('a=recvonly');
    else if (l === 'a=sendrecv') out.push('a=recvonly');
    else out.push(l);
  }
  return join(out);
}
