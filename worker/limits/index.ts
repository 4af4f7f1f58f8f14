/**
 * Rate limits that protect the worker and the bridge from one noisy client. Runtime-free.
 *
 *   SessionRateLimiter  new WCS sessions per client address per minute (fixed one-minute windows).
 *                       PER ISOLATE: Cloudflare runs many isolates, so the CDN-wide figure can be a
 *                       multiple of the limit; a Cloudflare rate-limiting rule in front of the
 *                       worker is the global backstop (see README, Security).
 *   MessageRate         frames per second on one session (a token bucket: a burst of N, then N/s).
 */

/** Defaults of every configurable limit (wrangler `[vars]`, see env.ts and the README). */
export const DEFAULT_LIMITS = {
  /** WCS_MAX_FRAME_BYTES: largest client frame (UTF-8 bytes). */
  maxFrameBytes: 256 * 1024,
  /** WCS_MAX_FRAME_DEPTH: deepest nesting of arrays/objects in a frame. */
  maxFrameDepth: 32,
  /** WCS_MAX_SDP_BYTES: largest SDP in a frame (the bridge refuses more than 64 KiB anyway). */
  maxSdpBytes: 64 * 1024,
  /** WCS_MAX_STREAMS_PER_SESSION: streams (publish + play) one session may hold at once. */
  maxStreamsPerSession: 32,
  /** WCS_MAX_MESSAGES_PER_SECOND: frames per second one session may send (burst of the same size). */
  maxMessagesPerSecond: 50,
  /** WCS_MAX_SESSIONS_PER_MINUTE: new sessions per client address per minute, per isolate (0: no limit). */
  maxSessionsPerMinute: 60,
} as const;

export interface Limits {
  maxFrameBytes: number;
  maxFrameDepth: number;
  maxSdpBytes: number;
  maxStreamsPerSession: number;
  maxMessagesPerSecond: number;
  maxSessionsPerMinute: number;
}

const WINDOW_MS = 60_000;
/** Addresses remembered at most; beyond this, expired windows are dropped, then the oldest. */
const MAX_TRACKED = 10_000;

/** New sessions per address per minute, in this isolate. */
export class SessionRateLimiter {
  readonly #windows = new Map<string, { start: number; count: number }>();

  /**
   * Counts a new session from `address`; returns the seconds to wait when it is over `limit`
   * (the session must be refused), else undefined. A limit of 0, or no address, means no limit.
   */
  take(address: string | undefined, limit: number, nowMs: number): number | undefined {
    if (limit <= 0 || address === undefined) return undefined;
    let w = this.#windows.get(address);
    if (w === undefined || nowMs - w.start >= WINDOW_MS) {
      this.#windows.delete(address);
      if (this.#windows.size >= MAX_TRACKED) this.#prune(nowMs);
      w = { start: nowMs, count: 0 };
      this.#windows.set(address, w);
    }
    if (w.count >= limit) return Math.max(1, Math.ceil((w.start + WINDOW_MS - nowMs) / 1000));
    w.count++;
    return undefined;
  }

  get size(): number {
    return this.#windows.size;
  }

  /** Drops expired windows, then the oldest, until there is room. Entries are kept in window-start order. */
  #prune(nowMs: number): void {
    for (const [k, w] of this.#windows) {
      if (nowMs - w.start < WINDOW_MS && this.#windows.size < MAX_TRACKED) break;
      this.#windows.delete(k);
    }
  }
}

/** The isolate's session limiter. */
export const sessionLimiter = new SessionRateLimiter();

/** A token bucket: `perSecond` frames per second with a burst of the same size. */
export class MessageRate {
  readonly #perSecond: number;
  #tokens: number;
  #last: number;

  constructor(perSecond: number, nowMs: number) {
    this.#perSecond = perSecond;
    this.#tokens = perSecond;
    this.#last = nowMs;
  }

  /** Counts one frame; false when the session is over its rate. */
  take(nowMs: number): boolean {
    if (this.#perSecond <= 0) return true;
    const elapsed = Math.max(0, nowMs - this.#last);
    this.#last = nowMs;
    this.#tokens = Math.min(this.#perSecond, this.#tokens + (elapsed * this.#perSecond) / 1000);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * The address to rate-limit a request by: Cloudflare's `CF-Connecting-IP` (set by Cloudflare in
 * production and by wrangler dev locally; `X-Forwarded-For` is never trusted). IPv6 addresses count
 * per /64, the block one subscriber usually has.
 */
export function clientAddress(headers: Headers): string | undefined {
  const ip = headers.get('cf-connecting-ip')?.trim() ?? '';
  // Only a request that did not come through Cloudflare (or wrangler dev) lacks it: nothing to count by.
  if (ip === '') return undefined;
  const mapped = /^(?:::ffff:)(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped?.[1] !== undefined) return mapped[1];
  return ip.includes(':') ? ipv6Prefix64(ip) : ip;
}

/** The first four groups of an IPv6 address, expanded (`2001:db8::1` -> `2001:db8:0:0::/64`). */
export function ipv6Prefix64(ip: string): string {
  const addr = ip.replace(/^\[|\]$/g, '').split('%')[0]?.toLowerCase() ?? '';
  const [head = '', tail] = addr.split('::', 2);
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
