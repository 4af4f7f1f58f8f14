/**
 * Publish to playable: how long from a publisher asking to publish until a viewer on an edge sees
 * its first frame, on one timeline (epoch ms; every process here shares the machine's clock):
 *
 *   publish requested (SDK publish(), getUserMedia and the offer included)
 *     -> publisher configured        (bridge log: "publisher configured")
 *     -> cascade ready on all edges  (bridge log: "cascade ready on every edge", its `ms`)
 *     -> PUBLISHING at the publisher (WebRTC up and media arriving at the origin)
 *     -> first frame at a viewer on an edge, which asked through Fanout at PUBLISHING.
 *
 * The bridge's log is read from the stack's state folder: no hook in Fanout is needed.
 */
import { readFileSync } from 'node:fs';
import type { BenchBrowser } from '../browser.ts';
import { errorText, sleep, until, type Deadline } from '../lib/run.ts';
import { round, roundSummary, summarize, type Summary } from '../lib/stats.ts';

export interface PublishTrial {
  stream: string;
  ok: boolean;
  error?: string;
  node?: string;
  /** ms from publish requested. */
  configuredMs?: number;
  cascadeReadyMs?: number;
  publishingMs?: number;
  firstFrameMs?: number;
  /** The bridge's own figure: configured -> cascade ready on every edge. */
  bridgeCascadeMs?: number;
  /** The viewer's own time to first frame (it asked at PUBLISHING). */
  viewerTtffMs?: number;
}

export interface PublishToPlayableResult {
  trials: PublishTrial[];
  /** Summaries over successful trials, each in ms from publish requested (bridgeCascadeMs: from configured). */
  summary: Record<'configuredMs' | 'cascadeReadyMs' | 'publishingMs' | 'firstFrameMs' | 'bridgeCascadeMs' | 'viewerTtffMs', Summary>;
}

export interface PublishSetup {
  browser: BenchBrowser;
  originUrl: string;
  bridgeLog: string;
  streamPrefix: string;
  deadline: Deadline;
  log(msg: string): void;
}

interface BridgeMarks {
  configuredAt?: number;
  cascadeMs?: number;
}

/** The bridge's log lines about one stream (pino JSON: `time` (ISO or epoch ms), `msg`, fields). */
function bridgeMarks(file: string, stream: string): BridgeMarks {
  const out: BridgeMarks = {};
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line.includes(stream)) continue;
    let x: unknown;
    try {
      x = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof x !== 'object' || x === null) continue;
    const rec = x as Record<string, unknown>;
    if (rec['stream'] !== stream) continue;
    const time = typeof rec['time'] === 'number' ? rec['time'] : typeof rec['time'] === 'string' ? Date.parse(rec['time']) : Number.NaN;
    if (rec['msg'] === 'publisher configured' && Number.isFinite(time)) out.configuredAt = time;
    if (rec['msg'] === 'cascade ready on every edge' && typeof rec['ms'] === 'number') out.cascadeMs = rec['ms'];
  }
  return out;
}

export async function measurePublishToPlayable(s: PublishSetup, trials: number, trialTimeoutMs: number): Promise<PublishToPlayableResult> {
  const pubPage = await s.browser.newPage();
  const viewPage = await s.browser.newPage();
  const out: PublishTrial[] = [];
  try {
    for (let i = 0; i < trials; i++) {
      if (!s.deadline.allows(40_000)) {
        s.log(`  publish->playable: stopping at ${i} of ${trials} trials (time budget)`);
        break;
      }
      const stream = `${s.streamPrefix}-${i}`;
      const trial: PublishTrial = { stream, ok: false };
      out.push(trial);
      try {
        const pub = await pubPage.publish({ urlServer: s.originUrl, stream, timeoutMs: trialTimeoutMs });
        if (!pub.ok) throw new Error(pub.error ?? 'publish failed');
        const view = await viewPage.fanoutPlay({ urlServer: s.originUrl, stream, timeoutMs: trialTimeoutMs });
        if (!view.ok || view.ttffMs === undefined) throw new Error(view.error ?? 'play failed');
        const requestedAt = pub.startedAt + (pub.marks['publishCalled'] ?? 0);
        trial.publishingMs = pub.startedAt + (pub.marks['publishing'] ?? Number.NaN) - requestedAt;
        trial.firstFrameMs = view.startedAt + view.ttffMs - requestedAt;
        trial.viewerTtffMs = view.ttffMs;
        if (view.node !== undefined) trial.node = view.node;
        // The bridge logs the cascade when it is ready; give the line a moment to reach the file.
        let marks: BridgeMarks = {};
        await until('the bridge logging the cascade', () => (marks = bridgeMarks(s.bridgeLog, stream)).cascadeMs !== undefined, 3000).catch(() => undefined);
        if (marks.configuredAt !== undefined) {
          trial.configuredMs = marks.configuredAt - requestedAt;
          if (marks.cascadeMs !== undefined) trial.cascadeReadyMs = trial.configuredMs + marks.cascadeMs;
        }
        if (marks.cascadeMs !== undefined) trial.bridgeCascadeMs = marks.cascadeMs;
        for (const k of ['configuredMs', 'cascadeReadyMs', 'publishingMs', 'firstFrameMs', 'viewerTtffMs'] as const) {
          const v = trial[k];
          if (v !== undefined) trial[k] = round(v, 1);
        }
        trial.ok = true;
      } catch (err) {
        trial.error = errorText(err);
        s.log(`  publish->playable ${stream}: ${trial.error}`);
      } finally {
        await viewPage.closeAll().catch(() => undefined);
        await pubPage.closeAll().catch(() => undefined);
      }
      await sleep(1500);
    }
  } finally {
    await viewPage.page.close().catch(() => undefined);
    await pubPage.page.close().catch(() => undefined);
  }
  const ok = out.filter((t) => t.ok);
  const sum = (k: keyof PublishToPlayableResult['summary']): Summary => roundSummary(summarize(ok.flatMap((t) => (t[k] === undefined ? [] : [t[k]]))), 1);
  return {
    trials: out,
    summary: {
      configuredMs: sum('configuredMs'),
      cascadeReadyMs: sum('cascadeReadyMs'),
      publishingMs: sum('publishingMs'),
      firstFrameMs: sum('firstFrameMs'),
      bridgeCascadeMs: sum('bridgeCascadeMs'),
      viewerTtffMs: sum('viewerTtffMs'),
    },
  };
}
