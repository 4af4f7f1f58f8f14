/**
 * The body of a WHIP/WHEP trickle PATCH: an `application/trickle-ice-sdpfrag` (RFC 8840). What the
 * server needs of it: the ICE username fragment and password (session level or per m-section),
 * every `a=candidate` with the mid (else the index) of the m-section it is in, and whether
 * `a=end-of-candidates` is there. Runtime-free.
 *
 *   a=ice-ufrag:EsAw                        (or inside the m-section)
 *   a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
 *   m=audio 9 RTP/AVP 0
 *   a=mid:0
 *   a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0
 *   a=end-of-candidates
 *
 * Some clients send the same candidate once per mid although the transport is bundled; Janus
 * needs it once, so duplicates are dropped. A component of 0 is read as 1 (see below).
 */
import { Errors, MAX_TRICKLE_CANDIDATES, type CdnError, type IceCandidate } from '../../protocol/index.ts';
import { sdpProblem } from '../../protocol/sdp.ts';

/** Largest fragment accepted (bytes). */
export const MAX_SDPFRAG_LENGTH = 16 * 1024;

export interface TrickleFragment {
  ufrag: string | undefined;
  pwd: string | undefined;
  candidates: IceCandidate[];
  /** `a=end-of-candidates` was present. */
  ended: boolean;
}

/**
 * Parses a fragment.
 * @throws CdnError INVALID_ARGUMENT naming the problem (and the line) when it is not one.
 */
export function parseTrickleFragment(text: string): TrickleFragment {
  const bad = (why: string): CdnError => Errors.invalid(`the body is not a trickle-ice-sdpfrag: ${why}`);
  if (text.length > MAX_SDPFRAG_LENGTH) throw bad(`it is longer than ${MAX_SDPFRAG_LENGTH} bytes`);
  if (text.trim() === '') throw bad('it is empty');
  // Blank lines between parts are tolerated; each remaining line must be SDP-shaped.
  const lines = text
    .split(/\r?\n/)
    .filter((l) => l !== '')
    // @eyevinn/whip-web-client (1.1.7) numbers the RTP component 0, which no candidate has (RFC
    // 8445: components start at 1); with rtcp-mux it is the only component, so 0 can only mean 1.
    .map((l) => l.replace(/^(a=candidate:\S+) 0 /, '$1 1 '));
  const problem = sdpProblem(lines.join('\r\n'));
  if (problem !== undefined) throw bad(problem);

  // Session part, then one part per m-section.
  const sections: string[][] = [[]];
  for (const line of lines) {
    if (line.startsWith('m=')) sections.push([]);
    sections[sections.length - 1]?.push(line);
  }
  let ufrag: string | undefined;
  let pwd: string | undefined;
  let ended = false;
  const seen = new Set<string>();
  const candidates: IceCandidate[] = [];
  sections.forEach((section, i) => {
    const index = i === 0 ? 0 : i - 1;
    const mid = section.find((l) => l.startsWith('a=mid:'))?.slice('a=mid:'.length);
    for (const line of section) {
      if (line.startsWith('a=ice-ufrag:')) {
        const value = line.slice('a=ice-ufrag:'.length).trim();
        if (ufrag !== undefined && ufrag !== value) throw bad(`it names two ICE username fragments ("${ufrag}" and "${value}")`);
        ufrag = value;
      } else if (line.startsWith('a=ice-pwd:')) {
        pwd = line.slice('a=ice-pwd:'.length).trim();
      } else if (line === 'a=end-of-candidates') {
        ended = true;
      } else if (line.startsWith('a=candidate:')) {
        const candidate = line.slice('a='.length).trim();
        if (seen.has(candidate)) continue;
        seen.add(candidate);
        candidates.push(mid === undefined ? { candidate, sdpMLineIndex: index } : { candidate, sdpMid: mid, sdpMLineIndex: index });
      }
    }
  });
  if (candidates.length > MAX_TRICKLE_CANDIDATES) throw bad(`more than ${MAX_TRICKLE_CANDIDATES} candidates`);
  if (ufrag === '' || pwd === '') throw bad('an empty ice-ufrag or ice-pwd');
  return { ufrag, pwd, candidates, ended };
}
