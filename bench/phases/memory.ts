/**
 * Memory per session: the resident set of workerd (the worker) and of the bridge before and while
 * N WCS sessions are open, divided by N. Two kinds of session: idle (connected: a WebSocket to the
 * worker and, behind it, the session's own link to the bridge) and active (connected, publishing
 * and playing one stream each, signalling only as in the signalling benchmark). RSS moves with
 * garbage collection and allocator caches: read these as rough sizes, not exact costs.
 */
import { answerFor } from '../lib/sdp.ts';
import { descendantsNamed, rssBytes } from '../lib/proc.ts';
import { errorText, sleep, type Cleanup } from '../lib/run.ts';
import { round } from '../lib/stats.ts';
import { WcsClient } from '../../test/harness/wcs-client.ts';

export interface MemorySample {
  sessions: number;
  /** KiB per session. */
  workerKiBPerSession: number;
  bridgeKiBPerSession: number;
  workerDeltaMiB: number;
  bridgeDeltaMiB: number;
  failures: number;
}

export interface MemoryResult {
  workerBaseMiB: number;
  bridgeBaseMiB: number;
  idle: MemorySample;
  active?: MemorySample;
  error?: string;
}

const T = 15_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

export async function measureMemory(o: {
  workerWs: string;
  wranglerPid: number;
  bridgePid: number;
  offer: string;
  idleSessions: number;
  activeSessions: number;
  /** Pause after opening or closing sessions before reading memory. */
  settleMs: number;
  runTag: string;
  cleanup: Cleanup;
  log(msg: string): void;
}): Promise<MemoryResult> {
  const workerd = descendantsNamed(o.wranglerPid, 'workerd');
  if (workerd.length === 0) throw new Error(`no workerd process under wrangler (pid ${o.wranglerPid})`);
  const rss = async (): Promise<{ worker: number; bridge: number }> => {
    const w: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < 3; i++) {
      w.push(workerd.reduce((a, pid) => a + rssBytes(pid), 0));
      b.push(rssBytes(o.bridgePid));
      await sleep(300);
    }
    return { worker: median(w), bridge: median(b) };
  };
  const clients: WcsClient[] = [];
  const closeAll = async (): Promise<void> => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await sleep(o.settleMs);
  };
  const done = o.cleanup.add('memory sessions', () => closeAll());
  try {
    await sleep(o.settleMs / 2);
    const base = await rss();
    const result: MemoryResult = {
      workerBaseMiB: round(base.worker / 2 ** 20, 1),
      bridgeBaseMiB: round(base.bridge / 2 ** 20, 1),
      idle: await sample(o.idleSessions, async () => {
        clients.push(await WcsClient.connect(`${o.workerWs}/node/origin/ws`, { timeoutMs: T }));
      }),
    };
    await closeAll();
    if (o.activeSessions > 0) {
      const before = await rss();
      let n = 0;
      result.active = await sample(
        o.activeSessions,
        async () => {
          const name = `mem-${o.runTag}-${n++}`;
          const pub = await WcsClient.connect(`${o.workerWs}/node/origin/ws`, { timeoutMs: T });
          clients.push(pub);
          await pub.publish(name, o.offer, { timeoutMs: T });
          const redirect = await pub.playRedirect(name, { timeoutMs: T });
          const player = await WcsClient.connect(redirect.url, { timeoutMs: T });
          clients.push(player);
          const play = await player.playOffer(name, { timeoutMs: T });
          player.answer(play.id, answerFor(play.offer));
        },
        before,
      );
      await closeAll();
    }
    return result;

    async function sample(count: number, open: () => Promise<void>, from = base): Promise<MemorySample> {
      let failures = 0;
      for (let i = 0; i < count; i += 10) {
        const batch = await Promise.allSettled(Array.from({ length: Math.min(10, count - i) }, () => open()));
        for (const r of batch) {
          if (r.status === 'rejected') {
            failures++;
            if (failures === 1) o.log(`  memory: a session failed: ${errorText(r.reason)}`);
          }
        }
      }
      await sleep(o.settleMs);
      const now = await rss();
      const ok = count - failures;
      return {
        sessions: ok,
        workerKiBPerSession: round((now.worker - from.worker) / 1024 / ok, 1),
        bridgeKiBPerSession: round((now.bridge - from.bridge) / 1024 / ok, 1),
        workerDeltaMiB: round((now.worker - from.worker) / 2 ** 20, 2),
        bridgeDeltaMiB: round((now.bridge - from.bridge) / 2 ** 20, 2),
        failures,
      };
    }
  } finally {
    await done();
  }
}
