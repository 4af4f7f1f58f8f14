/**
 * A cheap, line-level sanity check of the SDPs clients send, before anything reaches the bridge
 * and Janus: every line is `<letter>=<text>` with no control characters, no empty lines inside,
 * ports in `m=` and `a=candidate` lines are real ports, and the number of media sections is
 * bounded. It does not understand SDP beyond that (Janus does); it keeps obviously hostile text
 * (injected lines, absurd ports, binary garbage) away from Janus's parser with an error naming the
 * line. Every real offer and answer (Chrome, Firefox, Safari, werift, the WebSDK) passes.
 * Text that is not valid Unicode (a lone surrogate, which JSON can carry as "\ud800") is refused
 * too: found by the fuzz suite, it made Janus drop the request silently.
 */

/** Most `m=` sections accepted in one SDP. */
export const MAX_MEDIA_SECTIONS = 64;

// NUL-BS, VT, FF, SO-US and DEL: never in SDP text (RFC 8866 §5 allows any byte but NUL, CR, LF;
// the others only ever appear in hostile input).
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;
/** Half of a UTF-16 surrogate pair without the other half: text no UTF-8 encoder can write. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LINE = /^[a-z]=/;
const M_LINE = /^m=[^ ]+ (\d{1,10})(?:\/(\d{1,10}))? [^ ]+/;
const CANDIDATE = /^a=candidate:[^ ]+ (\d{1,10}) [^ ]+ \d{1,10} [^ ]+ (\d{1,10}) typ [^ ]+/;

/** The first problem of `sdp`, naming its line (1-based), or undefined when it looks sane. */
export function sdpProblem(sdp: string): string | undefined {
  const lines = sdp.split('\n');
  // A trailing line break is normal; anything after the last one must be a line too.
  if (lines[lines.length - 1] === '') lines.pop();
  let media = 0;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] ?? '';
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const at = `line ${i + 1}`;
    if (line === '') return `${at} is empty`;
    if (CONTROL.test(line) || line.includes('\r')) return `${at} contains a control character`;
    // JSON can carry one as "\ud800"; Janus's JSON parser drops a whole request that does, so the
    // publish or play would hang until the bridge's timeout instead of failing.
    if (LONE_SURROGATE.test(line)) return `${at} is not valid Unicode (a lone UTF-16 surrogate)`;
    if (!LINE.test(line)) return `${at} is not "<letter>=<value>"`;
    if (line.startsWith('m=')) {
      if (++media > MAX_MEDIA_SECTIONS) return `more than ${MAX_MEDIA_SECTIONS} media sections`;
      const m = M_LINE.exec(line);
      if (m === null) return `${at}: an m= line is "m=<media> <port> <proto> <fmt> ..."`;
      if (Number(m[1]) > 65535) return `${at}: port ${m[1]} is not a port (0-65535)`;
      if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return `${at}: port count ${m[2]} is out of range`;
    } else if (line.startsWith('a=candidate:')) {
      const c = CANDIDATE.exec(line);
      if (c === null) return `${at}: a candidate is "a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>"`;
      if (Number(c[1]) < 1 || Number(c[1]) > 256) return `${at}: candidate component ${c[1]} is out of range (1-256)`;
      if (Number(c[2]) > 65535) return `${at}: candidate port ${c[2]} is not a port (0-65535)`;
    }
  }
  return undefined;
}
