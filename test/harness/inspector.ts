/**
 * Memory figures of the stack's JavaScript processes through their DevTools inspectors: a full
 * garbage collection, then the V8 heap in use. RSS alone cannot tell a leak from a heap that V8 has
 * not bothered to collect yet (workerd's RSS grew 70 MB in a soak without a forced collection and
 * stayed flat with one), so the soak reads both.
 *
 *   bridge   Node: SIGUSR1 opens its inspector on 127.0.0.1:9229.
 *   worker   wrangler dev's inspector proxy (a port of its dev-proxy workerd) relays to the worker.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import * as v from 'valibot';
import WebSocket from 'ws';

const Targets = v.array(v.object({ webSocketDebuggerUrl: v.string() }));
const HeapUsage = v.object({ usedSize: v.number(), totalSize: v.number() });

/** TCP ports (IPv4) that `pid` listens on, in this network namespace. */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] !== undefined) inodes.add(m[1]);
    } catch {
      // closed while listing
    }
  }
  const ports: number[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && f[3] === '0A' && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(':')[1]!, 16));
  }
  return ports;
}

/** The first DevTools target among `ports` (GET /json), if any. */
export async function debuggerUrl(ports: readonly number[]): Promise<string | undefined> {
  for (const port of ports) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(1000) });
      const parsed = v.safeParse(Targets, await res.json());
      if (parsed.success && parsed.output[0] !== undefined) return parsed.output[0].webSocketDebuggerUrl;
    } catch {
      // not an inspector
    }
  }
  return undefined;
}

/** Runs a full collection in the target; returns the V8 heap in use before and after it (bytes). */
export async function collectGarbage(url: string, timeoutMs = 10_000): Promise<{ before: number; after: number }> {
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inspector ${url}: not open after ${timeoutMs} ms`)), timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once('error', reject);
    });
    let nextId = 0;
    const call = (method: string): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const id = ++nextId;
        const timer = setTimeout(() => reject(new Error(`inspector ${method}: no reply within ${timeoutMs} ms`)), timeoutMs);
        const onMessage = (data: WebSocket.RawData): void => {
          const msg: unknown = JSON.parse(String(data));
          if (typeof msg !== 'object' || msg === null || !('id' in msg) || msg.id !== id) return;
          clearTimeout(timer);
          ws.off('message', onMessage);
          resolve('result' in msg ? msg.result : undefined);
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ id, method }));
      });
    const before = v.parse(HeapUsage, await call('Runtime.getHeapUsage')).usedSize;
    await call('HeapProfiler.collectGarbage');
    const after = v.parse(HeapUsage, await call('Runtime.getHeapUsage')).usedSize;
    return { before, after };
  } finally {
    ws.close();
  }
}
