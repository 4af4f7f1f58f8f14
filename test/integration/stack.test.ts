/**
 * The local CDN in one command: `npm start`'s launcher starts Janus origin + 2 edges, the bridge and
 * wrangler dev; every health endpoint reports every node; stopping leaves nothing; a taken port or a
 * bad topology fails clearly and leaves nothing running.
 */
import { createServer, type Server } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as v from 'valibot';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Stack } from '../harness/stack.ts';
import { isAlive, stackProcesses } from '../harness/processes.ts';

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
    expect(await stack.stop()).toBe(0);
    expect(stack.output).toContain('Fanout stopped.');
    expect(pids.filter(isAlive)).toEqual([]);
    expect(stackProcesses()).toEqual([]);
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
    expect(stack.output).toContain(`${file}: node "edge-1": janus must be a URL`);
    expect(stackProcesses()).toEqual([]);
  });
});
