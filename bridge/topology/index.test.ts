import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopology, parseTopology, TopologyError } from './index.ts';

let nextPort = 8188;
const node = (id: string, role: string, extra = ''): string =>
  `<node id="${id}"><role>${role}</role><ip>${id}.localhost:8787</ip><janus>ws://127.0.0.1:${nextPort++}</janus>${extra}</node>`;

function parse(body: string, attrs = ''): ReturnType<typeof parseTopology> {
  return parseTopology(`<loadbalancer${attrs}>${body}</loadbalancer>`, 'lb.xml');
}

function error(body: string, attrs = ''): string {
  try {
    parse(body, attrs);
  } catch (err) {
    expect(err).toBeInstanceOf(TopologyError);
    return (err as TopologyError).message;
  }
  throw new Error('expected a TopologyError');
}

describe('parseTopology', () => {
  it('reads the shipped loadbalancing.xml: origin + 2 edges, FEWESTCALLS, balancing on', () => {
    const t = loadTopology(new URL('../../loadbalancing.xml', import.meta.url).pathname);
    expect(t.nodes.map((n) => [n.id, n.role, n.host])).toEqual([
      ['origin', 'origin', 'origin.localhost:8787'],
      ['edge-1', 'edge', 'edge-1.localhost:8787'],
      ['edge-2', 'edge', 'edge-2.localhost:8787'],
    ]);
    expect(t.mode).toBe('FEWESTCALLS');
    expect(t.loadBalancing).toBe(true);
    expect(t.origins.map((o) => o.id)).toEqual(['origin']);
    expect(t.edges.map((e) => e.id)).toEqual(['edge-1', 'edge-2']);
  });

  it('defaults mode to FEWESTCALLS and reads load_balancing_enabled="false"', () => {
    const t = parse(node('origin', 'origin'), ' load_balancing_enabled="false"');
    expect(t.mode).toBe('FEWESTCALLS');
    expect(t.loadBalancing).toBe(false);
  });

  it('a plain WCS file (numeric ids, no role, no janus) fails naming the node and the missing field', () => {
    const msg = error('<node id="1"><ip>edge.example.com</ip></node>');
    expect(msg).toMatch(/^lb\.xml: node "1": id: must be lowercase letters/);
    const msg2 = error('<node id="edge-1"><ip>edge.example.com</ip></node>');
    expect(msg2).toBe('lb.xml: node "edge-1": role is missing: <role>origin</role> or <role>edge</role>');
    const msg3 = error('<node id="edge-1"><role>edge</role><ip>edge.example.com</ip></node>');
    expect(msg3).toMatch(/^lb\.xml: node "edge-1": janus is missing: the Janus WebSocket API URL/);
  });

  it('no <node> at all, or a node that is only text, fails naming what is wrong', () => {
    expect(error('', ' mode="FEWESTCALLS"')).toBe('lb.xml: node is required');
    expect(error('<node>text</node>')).toMatch(/^lb\.xml: node #1: /);
  });

  it('a field that breaks its rule fails as `path: rule`, the node named by its id', () => {
    expect(error('<node id="origin"><role>origin</role><ip>o</ip><janus>nope</janus></node>')).toBe('lb.xml: node "origin": janus: must be a URL');
  });

  it('an unknown mode fails naming the field and the choices', () => {
    expect(error(node('origin', 'origin'), ' mode="FASTEST"')).toBe(
      'lb.xml: mode: must be one of ROUNDROBIN, FEWESTCALLS, RANDOM, LESS_LOADED_NODE',
    );
  });

  it('no origin fails', () => {
    expect(error(node('edge-1', 'edge'))).toBe('lb.xml: role: at least one node must be an origin, found 0');
  });

  it('several origins are read in topology order, the edges apart', () => {
    const t = parse(node('origin', 'origin') + node('edge-1', 'edge') + node('second', 'origin'));
    expect(t.origins.map((o) => o.id)).toEqual(['origin', 'second']);
    expect(t.edges.map((e) => e.id)).toEqual(['edge-1']);
  });

  it('reads test/fixtures/two-origins.xml: loadbalancing.xml with origin-2 last, on its own Janus and RTP ports', () => {
    const t = loadTopology(new URL('../../test/fixtures/two-origins.xml', import.meta.url).pathname);
    expect(t.nodes.map((n) => [n.id, n.role, n.host, n.janusUrl, n.rtpPortRange])).toEqual([
      ['origin', 'origin', 'origin.localhost:8787', 'ws://127.0.0.1:8188', '20000-20999'],
      ['edge-1', 'edge', 'edge-1.localhost:8787', 'ws://127.0.0.1:8189', '21000-21999'],
      ['edge-2', 'edge', 'edge-2.localhost:8787', 'ws://127.0.0.1:8190', '22000-22999'],
      ['origin-2', 'origin', 'origin-2.localhost:8787', 'ws://127.0.0.1:8191', '23000-23999'],
    ]);
    expect(t.origins.map((o) => o.id)).toEqual(['origin', 'origin-2']);
    expect(t.edges.map((e) => e.id)).toEqual(['edge-1', 'edge-2']);
  });

  it('a duplicate id or host fails naming both nodes', () => {
    expect(error(node('origin', 'origin') + node('origin', 'edge'))).toBe('lb.xml: node "origin": id is used twice');
    const dupHost =
      node('origin', 'origin') +
      '<node id="edge-1"><role>edge</role><ip>origin.localhost:8787</ip><janus>ws://127.0.0.1:9999</janus></node>';
    expect(error(dupHost)).toBe('lb.xml: node "edge-1": ip "origin.localhost:8787" is already used by node "origin"');
  });

  it('a bad rtp_port_range fails naming the node and field', () => {
    expect(error(node('origin', 'origin', '<rtp_port_range>30000-20000</rtp_port_range>'))).toBe(
      'lb.xml: node "origin": rtp_port_range: must be two ports between 1024 and 65535, low first',
    );
  });

  it('not XML, or another root element, fails naming the file', () => {
    expect(() => parseTopology('<loadbalancer><node>', 'x.xml')).toThrow(/^x\.xml: not well-formed XML/);
    expect(() => parseTopology('<cdn/>', 'x.xml')).toThrow('x.xml: the root element must be <loadbalancer>');
  });

  it('a missing file fails naming it', () => {
    expect(() => loadTopology('/nonexistent/lb.xml')).toThrow('/nonexistent/lb.xml: cannot read the topology file: file not found');
    const dir = mkdtempSync(join(tmpdir(), 'topo-'));
    writeFileSync(join(dir, 'empty.xml'), '');
    expect(() => loadTopology(join(dir, 'empty.xml'))).toThrow(/empty\.xml: /);
  });
});
