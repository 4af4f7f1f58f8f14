import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopology, type TopologyNode } from '../../bridge/topology/index.ts';
import { agentUrlsVar, controlPlan, eventsUrlFor, primaryUrl, type ControlPlanInput } from './control.ts';
import { writeJanusConfig } from './janus-config.ts';
import { checkDistinctPorts, defaultRtpRange, janusPorts, localJanusPlan } from './node-plan.ts';

const twoOrigins = loadTopology(new URL('../../test/fixtures/two-origins.xml', import.meta.url).pathname);
const shipped = loadTopology(new URL('../../loadbalancing.xml', import.meta.url).pathname);

const settings = { stateDir: '/tmp/fanout-x', topologyFile: twoOrigins.file, port: 8790, bridgeSecret: 'b', janusApiSecret: 'j', logLevel: 'info' };
const agents = (over: Partial<ControlPlanInput> = {}): ControlPlanInput => ({
  mode: 'agents',
  nodes: twoOrigins.nodes,
  local: new Set(twoOrigins.nodes.map((n) => n.id)),
  settings,
  agentSecrets: Object.fromEntries(twoOrigins.nodes.map((n) => [n.id, `cred-${n.id}`])),
  inherited: {},
  ...over,
});

const node = (id: string, janusUrl: string, rtpPortRange?: string): TopologyNode => ({
  id,
  role: 'edge',
  host: `${id}.localhost:8787`,
  janusUrl,
  ...(rtpPortRange === undefined ? {} : { rtpPortRange }),
});

describe('localJanusPlan', () => {
  it('two-origins.xml: one Janus per node, both origins included, each on its own API port, admin port and RTP range', () => {
    const plan = localJanusPlan(twoOrigins.nodes, 1000);
    expect(plan.map((j) => [j.node.id, j.node.role, j.host, j.port, j.adminPort, j.rtpPortRange])).toEqual([
      ['origin', 'origin', '127.0.0.1', 8188, 9188, '20000-20999'],
      ['edge-1', 'edge', '127.0.0.1', 8189, 9189, '21000-21999'],
      ['edge-2', 'edge', '127.0.0.1', 8190, 9190, '22000-22999'],
      ['origin-2', 'origin', '127.0.0.1', 8191, 9191, '23000-23999'],
    ]);
  });

  it('the shipped loadbalancing.xml keeps its three nodes, ports and ranges, admin API off without an offset', () => {
    expect(localJanusPlan(shipped.nodes, undefined).map((j) => [j.node.id, j.port, j.adminPort, j.rtpPortRange])).toEqual([
      ['origin', 8188, undefined, '20000-20999'],
      ['edge-1', 8189, undefined, '21000-21999'],
      ['edge-2', 8190, undefined, '22000-22999'],
    ]);
  });

  it('a node whose Janus is not on this machine gets no Janus here; a missing range defaults by topology index', () => {
    const plan = localJanusPlan([node('a', 'ws://10.0.0.5:8188'), node('b', 'ws://localhost:8189'), node('c', 'ws://127.0.0.1:8190', '30000-30999')], undefined);
    expect(plan.map((j) => [j.node.id, j.host, j.port, j.rtpPortRange])).toEqual([
      ['b', '127.0.0.1', 8189, '21000-21999'],
      ['c', '127.0.0.1', 8190, '30000-30999'],
    ]);
  });

  it('two local nodes with overlapping RTP ranges (a second origin copied from the first) fail naming both', () => {
    const copied = [node('origin', 'ws://127.0.0.1:8188', '20000-20999'), node('origin-2', 'ws://127.0.0.1:8191', '20500-21499')];
    expect(() => localJanusPlan(copied, undefined)).toThrow(
      'nodes "origin" and "origin-2" run here with overlapping RTP ports (20000-20999 and 20500-21499): give each its own rtp_port_range',
    );
    // The same ranges on two machines do not clash: only local nodes are compared.
    expect(localJanusPlan([copied[0]!, node('origin-2', 'ws://10.0.0.6:8188', '20000-20999')], undefined)).toHaveLength(1);
  });

  it('an admin port past 65535, or no default range left, fails naming the node', () => {
    expect(() => localJanusPlan([node('a', 'ws://127.0.0.1:65000')], 1000)).toThrow(
      'FANOUT_JANUS_ADMIN_PORT_OFFSET 1000 puts the admin API of node "a" past port 65535 (66000)',
    );
    expect(defaultRtpRange(44)).toBe('64000-64999');
    expect(() => defaultRtpRange(45)).toThrow('topology node #46 has no rtp_port_range and no default one is left (65000-65999 passes 65535): give it one');
  });
});

describe('the ports of a two-origin run', () => {
  it('agents: one per node on 8791 + topology index (origin-2, listed last, on 8794); each Janus posts to its own agent; the worker gets all four', () => {
    const plan = controlPlan(agents());
    expect(plan.map((c) => [c.name, c.port])).toEqual([
      ['agent origin', 8791],
      ['agent edge-1', 8792],
      ['agent edge-2', 8793],
      ['agent origin-2', 8794],
    ]);
    expect(eventsUrlFor(plan, 'origin-2')).toBe('http://127.0.0.1:8794/janus/events');
    expect(agentUrlsVar(plan)).toBe('origin=http://127.0.0.1:8791,edge-1=http://127.0.0.1:8792,edge-2=http://127.0.0.1:8793,origin-2=http://127.0.0.1:8794');
  });

  it('BRIDGE_URL is the first origin\'s agent; the next local origin\'s when the first is not run here; the bridge in bridge mode', () => {
    const origins = twoOrigins.origins.map((o) => o.id);
    expect(primaryUrl(controlPlan(agents()), origins)).toBe('http://127.0.0.1:8791');
    expect(primaryUrl(controlPlan(agents({ local: new Set(['edge-1', 'edge-2', 'origin-2']) })), origins)).toBe('http://127.0.0.1:8794');
    expect(primaryUrl(controlPlan(agents({ local: new Set(['edge-2']) })), origins)).toBe('http://127.0.0.1:8793');
    expect(primaryUrl(controlPlan(agents({ mode: 'bridge' })), origins)).toBe('http://127.0.0.1:8790');
  });

  it('every Janus, admin, agent and worker port is planned once', () => {
    const control = controlPlan(agents());
    const uses = [
      ...janusPorts(localJanusPlan(twoOrigins.nodes, 1000)),
      ...control.map((c) => ({ what: `the ${c.name}`, host: '127.0.0.1', port: c.port })),
      { what: 'the worker (wrangler dev)', host: '127.0.0.1', port: 8787 },
    ];
    expect(uses.map((u) => u.port)).toEqual([8188, 8189, 8190, 8191, 9188, 9189, 9190, 9191, 8791, 8792, 8793, 8794, 8787]);
    expect(() => checkDistinctPorts(uses)).not.toThrow();
  });

  it('an admin offset that lands one node\'s admin API on another\'s API port fails naming both', () => {
    expect(() => checkDistinctPorts(janusPorts(localJanusPlan(twoOrigins.nodes, 3)))).toThrow(
      'port 8191 on 127.0.0.1 is planned for both Janus API of node origin-2 and Janus admin API of node origin',
    );
  });

  it('origin-2\'s Janus configuration: its API port, RTP range, name and events URL (its own agent)', () => {
    const j = localJanusPlan(twoOrigins.nodes, undefined).find((x) => x.node.id === 'origin-2')!;
    const dir = mkdtempSync(join(tmpdir(), 'janus-origin-2-'));
    writeJanusConfig(
      {
        nodeId: j.node.id,
        role: j.node.role,
        wsIp: j.host,
        wsPort: j.port,
        mediaIp: '',
        rtpPortRange: j.rtpPortRange,
        logFile: '/tmp/janus-origin-2.log',
        apiSecret: 's3cret-s3cret-s3cret',
        eventsUrl: eventsUrlFor(controlPlan(agents()), j.node.id),
        adminWsPort: j.adminPort,
        overrides: {},
      },
      dir,
    );
    const core = readFileSync(join(dir, 'janus.jcfg'), 'utf8');
    expect(core).toContain('server_name = "fanout-origin-2"');
    expect(core).toContain('rtp_port_range = "23000-23999"');
    expect(readFileSync(join(dir, 'janus.transport.websockets.jcfg'), 'utf8')).toContain('ws_port = 8191');
    expect(readFileSync(join(dir, 'janus.eventhandler.sampleevh.jcfg'), 'utf8')).toContain('backend = "http://127.0.0.1:8794/janus/events"');
  });
});
