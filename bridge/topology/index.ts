/**
 * The CDN topology: a WCS `loadbalancing.xml` extended with what each Janus node needs.
 * Read once, validated once with valibot; every error names the file, the node and the field.
 */
import { readFileSync } from 'node:fs';
import { XMLParser } from 'fast-xml-parser';
import * as v from 'valibot';
import { errorText, issueText } from '../../protocol/errors.ts';

export const BALANCING_MODES = ['ROUNDROBIN', 'FEWESTCALLS', 'RANDOM', 'LESS_LOADED_NODE'] as const;
export type BalancingMode = (typeof BALANCING_MODES)[number];

export const NODE_ID_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

const PortRange = v.pipe(
  v.string(),
  v.regex(/^\d{1,5}-\d{1,5}$/, 'must look like "20000-20999"'),
  v.check((s) => {
    const [lo, hi] = s.split('-').map(Number) as [number, number];
    return lo >= 1024 && hi <= 65535 && lo < hi;
  }, 'must be two ports between 1024 and 65535, low first'),
);

const NodeSchema = v.object({
  id: v.pipe(
    v.string('must be text'),
    v.regex(NODE_ID_PATTERN, 'must be lowercase letters, digits and dashes, starting with a letter (e.g. "edge-1")'),
  ),
  role: v.picklist(['origin', 'edge'], 'must be <role>origin</role> or <role>edge</role>'),
  ip: v.pipe(
    v.string('must be text'),
    v.regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be a host name or address, with an optional :port'),
  ),
  janus: v.pipe(
    v.string('must be text'),
    v.url('must be a URL'),
    v.regex(/^wss?:\/\//, 'must be a ws:// or wss:// URL'),
  ),
  rtp_port_range: v.optional(PortRange),
});

const TopologySchema = v.object({
  mode: v.optional(v.picklist(BALANCING_MODES, `must be one of ${BALANCING_MODES.join(', ')}`), 'FEWESTCALLS'),
  randomize: v.optional(v.picklist(['true', 'false'], 'must be true or false'), 'false'),
  stream_distribution: v.optional(v.picklist(['webrtc'], 'must be "webrtc" (Fanout distributes WebRTC only)'), 'webrtc'),
  load_balancing_enabled: v.optional(v.picklist(['true', 'false'], 'must be true or false'), 'true'),
  node: v.pipe(
    v.array(NodeSchema, 'must list the nodes as <node> elements'),
    v.minLength(1, 'must list at least one <node>'),
  ),
});

export interface TopologyNode {
  readonly id: string;
  readonly role: 'origin' | 'edge';
  /** Public signalling host[:port], as browsers reach it. */
  readonly host: string;
  /** Janus WebSocket API URL, as the bridge reaches it. */
  readonly janusUrl: string;
  readonly rtpPortRange?: string;
}

export interface Topology {
  readonly file: string;
  readonly mode: BalancingMode;
  readonly loadBalancing: boolean;
  readonly nodes: readonly TopologyNode[];
  /** Every origin (at least one), in topology order: a publish runs on one of them. */
  readonly origins: readonly TopologyNode[];
  readonly edges: readonly TopologyNode[];
}

export class TopologyError extends Error {
  override readonly name = 'TopologyError';
}

/** Reads and validates a topology file; throws a TopologyError naming the file, node and field. */
export function loadTopology(file: string): Topology {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : errorText(err);
    throw new TopologyError(`${file}: cannot read the topology file: ${reason}`);
  }
  return parseTopology(text, file);
}

/** Parses topology XML; `file` is only used in error messages. */
export function parseTopology(xml: string, file: string): Topology {
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    isArray: (name) => name === 'node',
  });
  let doc: unknown;
  try {
    doc = parser.parse(xml, true);
  } catch (err) {
    throw new TopologyError(`${file}: not well-formed XML: ${errorText(err)}`);
  }
  const root = v.safeParse(v.object({ loadbalancer: v.record(v.string(), v.unknown()) }), doc);
  if (!root.success) {
    throw new TopologyError(`${file}: the root element must be <loadbalancer>`);
  }
  const parsed = v.safeParse(TopologySchema, root.output.loadbalancer);
  if (!parsed.success) {
    throw new TopologyError(describeIssue(file, root.output.loadbalancer, parsed.issues[0]));
  }
  const t = parsed.output;
  const nodes: TopologyNode[] = t.node.map((n) => ({
    id: n.id,
    role: n.role,
    host: n.ip.toLowerCase(),
    janusUrl: n.janus,
    ...(n.rtp_port_range === undefined ? {} : { rtpPortRange: n.rtp_port_range }),
  }));
  const seen = new Set<string>();
  for (const n of nodes) {
    if (seen.has(n.id)) throw new TopologyError(`${file}: node "${n.id}": id is used twice`);
    seen.add(n.id);
  }
  for (const key of ['host', 'janusUrl'] as const) {
    const values = new Map<string, string>();
    for (const n of nodes) {
      const other = values.get(n[key]);
      if (other !== undefined) {
        const field = key === 'host' ? 'ip' : 'janus';
        throw new TopologyError(`${file}: node "${n.id}": ${field} "${n[key]}" is already used by node "${other}"`);
      }
      values.set(n[key], n.id);
    }
  }
  const origins = nodes.filter((n) => n.role === 'origin');
  if (origins.length === 0) {
    throw new TopologyError(`${file}: role: at least one node must be an origin, found 0`);
  }
  return {
    file,
    mode: t.mode,
    loadBalancing: t.load_balancing_enabled === 'true',
    nodes,
    origins,
    edges: nodes.filter((n) => n.role === 'edge'),
  };
}

/** What to say when a required node field is absent. */
const MISSING_NODE_FIELD: Record<string, string> = {
  id: 'is missing: every <node> needs an id attribute, e.g. <node id="edge-1">',
  role: 'is missing: <role>origin</role> or <role>edge</role>',
  ip: 'is missing: the node\'s public signalling host, e.g. <ip>edge-1.cdn.example.com</ip>',
  janus: 'is missing: the Janus WebSocket API URL the bridge reaches, e.g. <janus>ws://10.0.0.5:8188</janus>',
};

/**
 * A valibot issue as `<file>: <path>: <rule>` (issueText), with a node named by its id rather than
 * its index, and a missing node field told what to write.
 */
function describeIssue(file: string, raw: Record<string, unknown>, issue: v.BaseIssue<unknown> | undefined): string {
  const keys = (issue?.path ?? []).map((p) => p.key);
  if (issue === undefined || keys[0] !== 'node' || typeof keys[1] !== 'number') {
    return `${file}: ${issueText(issue, 'invalid topology')}`;
  }
  const nodes = Array.isArray(raw['node']) ? raw['node'] : [];
  const node: unknown = nodes[keys[1]];
  const id = typeof node === 'object' && node !== null && 'id' in node && typeof node.id === 'string'
    ? `"${node.id}"`
    : `#${keys[1] + 1}`;
  const field = keys[2] === undefined ? undefined : String(keys[2]);
  const missing = field !== undefined && issue.kind === 'schema' && issue.received === 'undefined' ? MISSING_NODE_FIELD[field] : undefined;
  if (missing !== undefined) return `${file}: node ${id}: ${field} ${missing}`;
  // The path from the node down, told the way every valibot issue is.
  const [first, ...rest] = issue.path?.slice(2) ?? [];
  return `${file}: node ${id}: ${issueText({ ...issue, path: first === undefined ? undefined : [first, ...rest] })}`;
}
