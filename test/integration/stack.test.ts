/**
 * The local CDN in one command: `npm start`'s launcher starts Janus origin + 2 edges, one agent per
 * node (`bridge/main.ts --node <id>`) and wrangler dev; every health endpoint (each agent's for its
 * node, the worker's for every node) reports its nodes up; stopping leaves nothing, and `npm start`
 * returns only once every process it started is gone and every port it held binds again; a taken
 * port, an agent that dies while starting or a bad topology fails clearly, naming the part, and
 * leaves nothing running. `npm start -- --bridge` (one bridge for every node) starts and stops as
 * cleanly.
 */
import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as v from 'valibot';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../harness/poll.ts';
import { Stack } from '../harness/stack.ts';
import { type BoundSocket, isAlive, processGroup, socketsOf, stackProcesses } from '../harness/processes.ts';

const Health = v.object({
  nodes: v.array(v.object({ id: v.string(), role: v.picklist(['origin', 'edge']), up: v.boolean() })),
});

async function health(url: string, host?: string): Promise<{ status: number; body: v.InferOutput<typeof Health> }> {
  const res = await fetch(url, host === undefined ? {} : { headers: { host } });
  return { status: res.status, body: v.parse(Health, await res.json()) };
}

const started: Stack[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});
afterAll(() => {
  expect(stackProcesses()).toEqual([]);
});

/**
 * What a running stack is made of: the launcher, every process of each part's process group (the
 * parts' own children: wrangler's workerd and esbuild, tsx's esbuild), and the sockets they hold.
 */
function snapshot(stack: Stack): { pids: number[]; names: string[]; sockets: BoundSocket[] } {
  const info = stack.info();
  const members = info.children.flatMap((c) => processGroup(c.pid));
  const pids = [info.launcher, ...members.map((p) => p.pid)];
  return { pids, names: members.map((p) => p.comm), sockets: socketsOf(pids) };
}

/** The sockets that cannot be bound again right now: each is tried once, at once, no retry. */
async function unbindable(sockets: BoundSocket[]): Promise<BoundSocket[]> {
  const tryBind = (s: BoundSocket): Promise<boolean> =>
    new Promise((done) => {
      if (s.proto === 'tcp') {
        const srv = createServer();
        srv.once('error', () => done(false));
        srv.listen({ host: s.ip, port: s.port, exclusive: true }, () => srv.close(() => done(true)));
      } else {
        const sock = createSocket('udp4');
        sock.once('error', () => {
          sock.close();
          done(false);
        });
        sock.bind({ address: s.ip, port: s.port, exclusive: true }, () => sock.close(() => done(true)));
      }
    });
  const free = await Promise.all(sockets.map(tryBind));
  return sockets.filter((_, i) => !free[i]);
}

/** The agents' ports (FANOUT_BRIDGE_PORT 8790 + 1 + the node's index in the topology). */
const AGENT_PORTS = { origin: 8791, 'edge-1': 8792, 'edge-2': 8793 } as const;
const JANUS_PORTS = [8188, 8189, 8190];
const tcp = (port: number): BoundSocket => ({ proto: 'tcp', ip: '127.0.0.1', port });

/** The ports the default topology must be holding while it runs: the worker, each node's agent, three Janus APIs. */
const EXPECTED_LISTENERS = [8787, ...Object.values(AGENT_PORTS), ...JANUS_PORTS].map(tcp);

type NodeUp = { id: string; role: string; up: boolean };
const EVERY_NODE_UP: readonly NodeUp[] = [
  { id: 'origin', role: 'origin', up: true },
  { id: 'edge-1', role: 'edge', up: true },
  { id: 'edge-2', role: 'edge', up: true },
];

/** Every listed /health answers 200 and reports exactly these nodes, up. */
async function expectHealthy(checks: ReadonlyArray<readonly [url: string, host: string | undefined, nodes: readonly NodeUp[]]>): Promise<void> {
  for (const [url, host, nodes] of checks) {
    const h = await health(url, host);
    expect(h.status, url).toBe(200);
    expect(h.body.nodes.map(({ id, role, up }) => ({ id, role, up })), url).toEqual(nodes);
  }
}

/** Stops a running stack and checks that nothing it was made of is left: no process, no port held. */
async function expectStopsClean(stack: Stack, all: ReturnType<typeof snapshot>): Promise<void> {
  expect(await stack.stop()).toBe(0);
  expect(stack.output).toContain('Fanout stopped.');
  expect(all.pids.filter(isAlive)).toEqual([]);
  expect(await unbindable(all.sockets)).toEqual([]);
  expect(stackProcesses()).toEqual([]);
}

function tempFile(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fanout-topology-')), name);
  writeFileSync(file, text);
  return file;
}

describe('npm start', () => {
  it('starts origin + 2 edges, an agent per node and the worker; each agent reports its node up, the worker every node; stop leaves no process', async () => {
    const stack = await Stack.start();
    started.push(stack);
    const info = stack.info();
    expect(info.control).toBe('agents');
    expect(info.children.map((c) => c.name)).toEqual(['janus origin', 'janus edge-1', 'janus edge-2', 'agent origin', 'agent edge-1', 'agent edge-2', 'worker (wrangler dev)']);
    expect(info.agentUrls).toEqual(Object.fromEntries(Object.entries(AGENT_PORTS).map(([node, port]) => [node, `http://127.0.0.1:${port}`])));
    expect(stack.output).toContain('ws://edge-1.localhost:8787/');
    for (const port of Object.values(AGENT_PORTS)) expect(stack.output).toContain(`http://127.0.0.1:${port}/health`);

    await expectHealthy([
      ...EVERY_NODE_UP.map((n) => [`${stack.agentUrl(n.id)}/health`, undefined, [n]] as const),
      [`${info.workerUrl}/health`, undefined, EVERY_NODE_UP],
      [`${info.workerUrl}/health`, 'origin.localhost:8787', EVERY_NODE_UP],
      [`${info.workerUrl}/health`, 'edge-2.localhost:8787', EVERY_NODE_UP],
    ]);

    const pids = info.children.map((c) => c.pid);
    expect(pids.every(isAlive)).toBe(true);
    const all = snapshot(stack);
    expect(all.sockets).toEqual(expect.arrayContaining(EXPECTED_LISTENERS));
    // No process is on the path of every client: the one bridge's port is not held.
    expect(all.sockets).not.toContainEqual(tcp(8790));
    await expectStopsClean(stack, all);
  });

  it('npm start -- --bridge starts one bridge for every node; its health and the worker\'s report every node up; stop leaves no process and every port binds again', async () => {
    const stack = await Stack.start({ bridge: true });
    started.push(stack);
    const info = stack.info();
    expect(info.control).toBe('bridge');
    expect(info.children.map((c) => c.name)).toEqual(['janus origin', 'janus edge-1', 'janus edge-2', 'bridge', 'worker (wrangler dev)']);
    expect(info.agentUrls).toEqual({ origin: info.bridgeUrl, 'edge-1': info.bridgeUrl, 'edge-2': info.bridgeUrl });
    await expectHealthy([
      [`${info.bridgeUrl}/health`, undefined, EVERY_NODE_UP],
      [`${info.workerUrl}/health`, undefined, EVERY_NODE_UP],
    ]);
    const all = snapshot(stack);
    expect(all.sockets).toEqual(expect.arrayContaining([8787, 8790, ...JANUS_PORTS].map(tcp)));
    for (const port of Object.values(AGENT_PORTS)) expect(all.sockets).not.toContainEqual(tcp(port));
    await expectStopsClean(stack, all);
  });

  // npm runs the launcher as its direct child (package.json: `exec node ...`): npm passes the
  // signal on and exits after it. Through `sh -c` instead, sh died at once of a SIGTERM and npm
  // returned while Janus was still stopping, or (a SIGTERM to npm alone) the launcher never heard.
  it.each([
    ['Ctrl-C (SIGINT to its process group)', 'SIGINT', 'group'],
    ['SIGTERM to its process group (a service manager)', 'SIGTERM', 'group'],
    ['SIGTERM to npm alone (kill <pid>)', 'SIGTERM', 'process'],
  ] as const)('npm start stopped by %s exits 0 only after every process it started, and every port it held binds again at once', async (_, signal, to) => {
    const stack = await Stack.start({ viaNpm: true });
    started.push(stack);
    const all = snapshot(stack);
    // The snapshot holds what must be waited for, so that this test can fail.
    expect(all.names).toEqual(expect.arrayContaining(['janus', 'workerd']));
    expect(all.pids.every(isAlive)).toBe(true);
    expect(all.sockets).toEqual(expect.arrayContaining(EXPECTED_LISTENERS));

    stack.signal(signal, to);
    expect(await stack.exited).toBe(0);
    // The moment npm is gone.
    expect(all.pids.filter(isAlive)).toEqual([]);
    expect(await unbindable(all.sockets)).toEqual([]);
    expect(stackProcesses()).toEqual([]);
    expect(stack.output).toContain('Fanout stopped.');
  });

  it('a SIGTERM while the agents are starting stops the Janus nodes already up and the agents, exits 0 and reports no failure', async () => {
    const stack = Stack.spawn();
    started.push(stack);
    // The launcher starts the agents once the three Janus nodes are up; their logs appear at once.
    const agentLogs = Object.keys(AGENT_PORTS).map((node) => join(stack.stateDir, 'logs', `agent-${node}.log`));
    await eventually('the agents\' logs', async () => agentLogs.every((f) => existsSync(f)), (there) => there, 30_000, 20);
    expect(stackProcesses().filter((p) => p.comm === 'janus')).toHaveLength(3);
    stack.signal('SIGTERM');
    expect(await stack.exited).toBe(0);
    expect(stack.output).toContain('Fanout stopped.');
    expect(stack.output).not.toContain('failed to start');
    expect(stackProcesses()).toEqual([]);
    expect(await unbindable([...JANUS_PORTS, ...Object.values(AGENT_PORTS)].map(tcp))).toEqual([]);
  });

  it('with a port already taken, fails naming the port and its user (an agent), and leaves nothing running', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(AGENT_PORTS['edge-1'], '127.0.0.1', r));
    try {
      const stack = Stack.spawn();
      started.push(stack);
      expect(await stack.exited).toBe(1);
      expect(stack.output).toContain('port 8792 on 127.0.0.1, needed by the agent edge-1, is already in use');
      expect(stackProcesses()).toEqual([]);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('when an agent dies while starting, names it with its log and stops the parts already started', async () => {
    // edge-1's agent cannot listen: its port is taken after the launcher checked it (another program
    // got there meanwhile), so that agent alone exits, once the Janus nodes are up.
    const stack = Stack.spawn();
    started.push(stack);
    // The launcher's health check of the agent connects to whoever holds the port: closed at once,
    // so that no connection keeps the blocker from closing.
    const blocker: Server = createServer((socket) => socket.destroy());
    try {
      const lastJanusLog = join(stack.stateDir, 'logs', 'janus-edge-2.out');
      await eventually('the last Janus node started', async () => existsSync(lastJanusLog), (there) => there, 30_000, 10);
      await new Promise<void>((r) => blocker.listen(AGENT_PORTS['edge-1'], '127.0.0.1', r));
      expect(await stack.exited).toBe(1);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
    expect(stack.output).toMatch(/agent edge-1 exited with code 2 while starting/);
    expect(stack.output).toContain('port 8792 on 127.0.0.1 is already in use');
    expect(stack.output).toContain('agent-edge-1.log');
    expect(stackProcesses()).toEqual([]);
  });

  it('with a bad setting, names the agent that refused it and stops the parts already started', async () => {
    // The Janus nodes start, then every agent refuses the log level and exits: the first one seen is named.
    const stack = Stack.spawn({ env: { FANOUT_LOG_LEVEL: 'loud' } });
    started.push(stack);
    expect(await stack.exited).toBe(1);
    expect(stack.output).toMatch(/agent (origin|edge-1|edge-2) exited with code 2 while starting/);
    expect(stack.output).toContain('FANOUT_LOG_LEVEL must be one of');
    expect(stackProcesses()).toEqual([]);
  });

  it('with a missing topology file, fails naming the file', async () => {
    const stack = Stack.spawn({ topology: '/nonexistent/loadbalancing.xml' });
    started.push(stack);
    expect(await stack.exited).toBe(1);
    expect(stack.output).toContain('/nonexistent/loadbalancing.xml: cannot read the topology file: file not found');
    expect(stackProcesses()).toEqual([]);
  });

  it('with an invalid topology file, fails naming the file, the node and the field', async () => {
    const file = tempFile(
      'bad.xml',
      `<loadbalancer mode="FEWESTCALLS">
         <node id="origin"><role>origin</role><ip>origin.localhost:8787</ip><janus>ws://127.0.0.1:8188</janus></node>
         <node id="edge-1"><role>edge</role><ip>edge-1.localhost:8787</ip><janus>not a url</janus></node>
       </loadbalancer>`,
    );
    const stack = Stack.spawn({ topology: file });
    started.push(stack);
    expect(await stack.exited).toBe(1);
    expect(stack.output).toContain(`${file}: node "edge-1": janus: must be a URL`);
    expect(stackProcesses()).toEqual([]);
  });
});
