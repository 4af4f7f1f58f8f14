/**
 * What a browser page's client saw while the CDN's parts failed under it, measured in the page and
 * changing nothing: `installPageProbe` (run with `page.addInitScript`, before the page's scripts)
 * keeps its peer connections and every WCS frame its WebSockets received; `startGapWindow` samples
 * the decoded video frames of its peer connections every 100 ms (getStats `framesDecoded`), and
 * `readProbe` gives the longest time no new frame was decoded. Used by the bridge-restart suite,
 * where a kill -9 of the bridge must leave every player's video and every session untouched.
 */
import type { Page } from 'playwright-core';

/** A WebSocket frame the page received: its WCS message, and the status it told, if any. */
export interface ProbeFrame {
  at: number;
  message: string;
  /** A stream status (notifyStreamStatusEvent) or "FAILED" (a `fail` frame). */
  status?: string;
  info?: string;
}

interface Probe {
  pcs: RTCPeerConnection[];
  frames: ProbeFrame[];
  closes: Array<{ at: number; code: number }>;
  gap: {
    timer: number | undefined;
    busy: boolean;
    frames: number;
    lastIncreaseAt: number;
    lastSampleAt: number;
    maxGapMs: number;
    /** The longest time between two samples: a gap can be no shorter, so it shows a starved page. */
    maxSampleMs: number;
  };
}

declare global {
  interface Window {
    __probe?: Probe;
  }
}

/** For `page.addInitScript`: wraps RTCPeerConnection and WebSocket to observe them. Self-contained. */
export function installPageProbe(): void {
  const probe: Probe = {
    pcs: [],
    frames: [],
    closes: [],
    gap: { timer: undefined, busy: false, frames: 0, lastIncreaseAt: 0, lastSampleAt: 0, maxGapMs: 0, maxSampleMs: 0 },
  };
  window.__probe = probe;
  const PC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends PC {
    constructor(config?: RTCConfiguration) {
      super(config);
      probe.pcs.push(this);
    }
  };
  const read = (data: unknown): ProbeFrame => {
    const frame: ProbeFrame = { at: Date.now(), message: '?' };
    try {
      const m: unknown = typeof data === 'string' ? JSON.parse(data) : undefined;
      if (typeof m !== 'object' || m === null || !('message' in m) || typeof m.message !== 'string') return frame;
      frame.message = m.message;
      const first: unknown = 'data' in m && Array.isArray(m.data) ? m.data[0] : undefined;
      if (typeof first === 'object' && first !== null) {
        if (m.message === 'notifyStreamStatusEvent' && 'status' in first && typeof first.status === 'string') frame.status = first.status;
        if (m.message === 'fail') frame.status = 'FAILED';
        if ('info' in first && typeof first.info === 'string') frame.info = first.info;
      }
    } catch {
      // not JSON: counted as "?"
    }
    return frame;
  };
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      this.addEventListener('message', (e) => probe.frames.push(read(e.data)));
      this.addEventListener('close', (e) => probe.closes.push({ at: Date.now(), code: e.code }));
    }
  };
}

/** Starts (or restarts) measuring the longest time between decoded video frames in the page. */
export async function startGapWindow(page: Page): Promise<void> {
  await page.evaluate(() => {
    const probe = window.__probe;
    if (probe === undefined) throw new Error('no page probe: installPageProbe was not added as an init script');
    const g = probe.gap;
    if (g.timer !== undefined) clearInterval(g.timer);
    const now = Date.now();
    Object.assign(g, { busy: false, frames: -1, lastIncreaseAt: now, lastSampleAt: now, maxGapMs: 0, maxSampleMs: 0 });
    const sample = async (): Promise<void> => {
      if (g.busy) return; // the last getStats has not answered yet: that delay shows in maxSampleMs
      g.busy = true;
      try {
        let frames = 0;
        for (const pc of probe.pcs) {
          if (pc.connectionState === 'closed') continue;
          (await pc.getStats()).forEach((s: Record<string, unknown>) => {
            if (s['type'] === 'inbound-rtp' && s['kind'] === 'video' && typeof s['framesDecoded'] === 'number') frames += s['framesDecoded'];
          });
        }
        const at = Date.now();
        g.maxSampleMs = Math.max(g.maxSampleMs, at - g.lastSampleAt);
        g.lastSampleAt = at;
        // The first sample only sets the count; a count that falls (a peer connection closed) is a new start, not a frame.
        if (g.frames >= 0 && frames > g.frames) {
          g.maxGapMs = Math.max(g.maxGapMs, at - g.lastIncreaseAt);
          g.lastIncreaseAt = at;
        }
        g.frames = frames;
      } finally {
        g.busy = false;
      }
    };
    g.timer = window.setInterval(() => void sample(), 100);
  });
}

export interface GapReport {
  /** The longest time without a new decoded frame since `startGapWindow`, the time since the last one included. */
  maxGapMs: number;
  /** The longest time between two samples (a page too starved to sample makes the gap unmeasurable). */
  maxSampleMs: number;
  /** Frames decoded at the last sample. */
  frames: number;
}

/** The gap window's figures now; with `stop`, ends the sampling. */
export async function readGapWindow(page: Page, stop = false): Promise<GapReport> {
  return page.evaluate((end) => {
    const g = window.__probe?.gap;
    if (g === undefined) throw new Error('no page probe');
    if (end && g.timer !== undefined) {
      clearInterval(g.timer);
      g.timer = undefined;
    }
    return { maxGapMs: Math.max(g.maxGapMs, Date.now() - g.lastIncreaseAt), maxSampleMs: g.maxSampleMs, frames: g.frames };
  }, stop);
}

/** Index of the next WebSocket frame the page will receive: pass it to `framesSince`. */
export async function frameMark(page: Page): Promise<number> {
  return page.evaluate(() => window.__probe?.frames.length ?? 0);
}

/** The WebSocket frames the page received from `mark` on, and the closes of its sockets since `since` (Date.now()). */
export async function framesSince(page: Page, mark: number, since: number): Promise<{ frames: ProbeFrame[]; closes: Array<{ at: number; code: number }> }> {
  return page.evaluate(
    ({ from, t }) => ({ frames: (window.__probe?.frames ?? []).slice(from), closes: (window.__probe?.closes ?? []).filter((c) => c.at >= t) }),
    { from: mark, t: since },
  );
}

/** Frames decoded so far by the page's open peer connections. */
export async function framesDecoded(page: Page): Promise<number> {
  return page.evaluate(async () => {
    let frames = 0;
    for (const pc of window.__probe?.pcs ?? []) {
      if (pc.connectionState === 'closed') continue;
      (await pc.getStats()).forEach((s: Record<string, unknown>) => {
        if (s['type'] === 'inbound-rtp' && s['kind'] === 'video' && typeof s['framesDecoded'] === 'number') frames += s['framesDecoded'];
      });
    }
    return frames;
  });
}
