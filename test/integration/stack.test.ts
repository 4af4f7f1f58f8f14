/**
 * The local CDN in one command: `npm start`'s launcher starts Janus origin + 2 edges, the bridge and
 * wrangler dev; every health endpoint reports every node; stopping leaves nothing, and `npm start`
 * returns only once every process it started is gone and every port it held binds again; a taken
 * port or a bad topology fails clearly and leaves nothing running.
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

/** The ports the default topology must be holding while it runs: the worker, the bridge, three Janus APIs. */
const EXPECTED_LISTENERS = [8787, 8790, 8188, 8189, 8190].map((port) => ({ proto: 'tcp', ip: '127.0.0.1', port }));

function tempFile(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fanout-topology-')), name);
  writeFileSync(file, text);
  return file;
}

describe('npm start', () => {
  it('starts origin + 2 edges, bridge and worker; every health endpoint reports every node up; stop leaves no process', async () => {
    const stack = await Stack.start();
    started.push(stack);
    const info = stack.info();
    expect(info.children.map((c) => c.name)).toEqual(['janus origin', 'janus edge-1', 'janus edge-2', 'bridge', 'worker (wrangler dev)']);
    expect(stack.output).toContain('ws://edge-1.localhost:8787/');

    const expected = [
      { id: 'origin', role: 'origin', up: true },
      { id: 'edge-1', role: 'edge', up: true },
      { id: 'edge-2', role: 'edge', up: true },
    ];
    for (const [url, host] of [
      [`${info.bridgeUrl}/health`, undefined],
      [`${info.workerUrl}/health`, undefined],
      [`${info.workerUrl}/health`, 'origin.localhost:8787'],
      [`${info.workerUrl}/health`, 'edge-2.localhost:8787'],
    ] as const) {
      const h = await health(url, host);
      expect(h.status, url).toBe(200);
      expect(h.body.nodes.map(({ id, role, up }) => ({ id, role, up }))).toEqual(expected);
    }

    const pids = info.children.map((c) => c.pid);
    expect(pids.every(isAlive)).toBe(true);
    const all = snapshot(stack);
    expect(all.sockets).toEqual(expect.arrayContaining(EXPECTED_LISTENERS));
    expect(await stack.stop()).toBe(0);
    expect(stack.output).toContain('Fanout stopped.');
    expect(all.pids.filter(isAlive)).toEqual([]);
    expect(await unbindable(all.sockets)).toEqual([]);
    expect(stackProcesses()).toEqual([]);
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

  it('a SIGTERM while the bridge is starting stops the Janus nodes already up and the bridge, exits 0 and reports no failure', async () => {
    const stack = Stack.spawn();
    started.push(stack);
    // The launcher starts the bridge once the three Janus nodes are up; its log appears at once.
    const bridgeLog = join(stack.stateDir, 'logs', 'bridge.log');
    await eventually('the bridge log', async () => existsSync(bridgeLog), (there) => there, 30_000, 20);
    expect(stackProcesses().filter((p) => p.comm === 'janus')).toHaveLength(3);
    stack.signal('SIGTERM');
    expect(await stack.exited).toBe(0);
    expect(stack.output).toContain('Fanout stopped.');
    expect(stack.output).not.toContain('failed to start');
    expect(stackProcesses()).toEqual([]);
    const ports = [8188, 8189, 8190, 8790].map((port): BoundSocket => ({ proto: 'tcp', ip: '127.0.0.1', port }));
    expect(await unbindable(ports)).toEqual([]);
  });

  it('with a port already taken, fails naming the port and its user, and leaves nothing running', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(8790, '127.0.0.1', r));
    try {
      const stack = Stack.spawn();
      started.push(stack);
      expect(await stack.exited).toBe(1);
      expect(stack.output).toContain('port 8790 on 127.0.0.1, needed by the bridge, is already in use');
      expect(stackProcesses()).toEqual([]);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('when a part dies while starting, names it with its log and stops the parts already started', async () => {
    // The Janus nodes start, then the bridge refuses a bad setting and exits.
    const stack = Stack.spawn({ env: { FANOUT_LOG_LEVEL: 'loud' } });
    started.push(stack);
    expect(await stack.exited).toBe(1);
    expect(stack.output).toMatch(/bridge exited with code 2 while starting/);
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
