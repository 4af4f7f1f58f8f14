/**
 * Bitrates as Janus measures them. Each node's Janus posts its events to the bridge through its
 * sample event handler (janus-config: `janus.eventhandler.sampleevh.jcfg`, events = "media"); among
 * them, every `events.stats_period` seconds and for every WebRTC handle and stream (mid), a stats
 * event with `bytes-received-lastsec` and `bytes-sent-lastsec`. This keeps the latest of those per
 * handle, so the bridge can say what a publisher sends (its handle on the origin) and what a node
 * sends to the viewers of a stream (their subscriber handles).
 *
 * Everything Janus posts is validated; events of other kinds, and stats of handles that stopped
 * reporting, are dropped.
 *
 * A report is dated when Janus made it, not when it arrived. Janus queues its posts while the
 * bridge is away and delivers them once it is back, so a report that arrives now may describe a
 * PeerConnection that has since hung up. Each event carries Janus's own `timestamp`; the bridge
 * learns the offset between that clock and its own from the quickest deliveries (per emitter, so
 * clock skew between hosts does not matter) and dates every report by it.
 */
import * as v from 'valibot';
import type { Bitrate } from '../../protocol/index.ts';

/** One Janus event as the sample event handler posts it (only what is read here). */
const JanusEvent = v.looseObject({
  type: v.number(),
  handle_id: v.optional(v.number()),
  emitter: v.optional(v.string()),
  /** When Janus made the event: microseconds on its own real-time clock. */
  timestamp: v.optional(v.number()),
  event: v.optional(v.unknown()),
});

/** The stats part of a media event (type 32): one stream (mid) of one handle. */
const MediaStats = v.looseObject({
  media: v.picklist(['audio', 'video']),
  mid: v.optional(v.string()),
  substream: v.optional(v.number()),
  'bytes-received-lastsec': v.number(),
  'bytes-sent-lastsec': v.number(),
});

/** A combined stats event (`combine_media_stats = true`): every stream of the handle at once. */
const CombinedStats = v.looseObject({ media: v.array(v.unknown()) });

/** Janus event type of media events (state changes and periodic stats). */
export const JANUS_EVENT_TYPE_MEDIA = 32;

export interface HandleBitrate {
  /** What Janus receives on this handle (a publisher's media), in bits per second. */
  in: Bitrate;
  /** What Janus sends on this handle (a subscriber's media), in bits per second. */
  out: Bitrate;
  /** Local epoch ms of the latest stats for this handle. */
  at: number;
}

interface Entry {
  at: number;
  /** Per stream (mid and substream): kind and bytes in the last second. */
  streams: Map<string, { kind: 'audio' | 'video'; inBytes: number; outBytes: number }>;
}

/**
 * How long the quickest delivery seen stays the reference: after a step of Janus's clock the
 * offset is learnt again within this time.
 */
const OFFSET_MEMORY_MS = 30_000;

/** How often stale handles are dropped (reads check the age themselves, so this only bounds memory). */
const PRUNE_EVERY_MS = 1_000;

export interface JanusStatsOptions {
  /** Stats older than this are stale (the handle is gone or Janus stopped reporting). */
  maxAgeMs?: number;
  now?: () => number;
}

export class JanusStats {
  readonly #handles = new Map<number, Entry>();
  /** Per emitter: the smallest (arrival − Janus time) seen lately, i.e. the clock offset plus the quickest delivery. */
  readonly #offsets = new Map<string, { ms: number; seenAt: number }>();
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #prunedAt = -Infinity;
  #events = 0;
  #rejected = 0;
  #lastAt: number | undefined;

  constructor(opts: JanusStatsOptions = {}) {
    this.#maxAgeMs = opts.maxAgeMs ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Local epoch ms of the latest stats of any handle (undefined: none yet). */
  get lastAt(): number | undefined {
    return this.#lastAt;
  }

  /** Events taken in, and posted items that were not Janus events, since start. */
  get counts(): { events: number; rejected: number } {
    return { events: this.#events, rejected: this.#rejected };
  }

  /** Takes one POST body from Janus: an event or an array of events (grouping). Returns the stats events used. */
  ingest(body: unknown): number {
    const items = Array.isArray(body) ? body : [body];
    const now = this.#now();
    let used = 0;
    for (const item of items) {
      const parsed = v.safeParse(JanusEvent, item);
      if (!parsed.success) {
        this.#rejected++;
        continue;
      }
      this.#events++;
      const e = parsed.output;
      if (e.type !== JANUS_EVENT_TYPE_MEDIA || e.handle_id === undefined) continue;
      const at = this.#madeAt(e.emitter ?? '', e.timestamp, now);
      const combined = v.safeParse(CombinedStats, e.event);
      const parts = combined.success ? combined.output.media : [e.event];
      for (const part of parts) {
        const stats = v.safeParse(MediaStats, part);
        if (!stats.success) continue; // a state change ("receiving"), not stats
        this.#record(e.handle_id, stats.output, at);
        this.#lastAt = Math.max(this.#lastAt ?? at, at);
        used++;
      }
    }
    this.#prune(now);
    return used;
  }

  /** The latest bitrates of a handle, unless stale. */
  bitrate(handle: number | undefined): HandleBitrate | undefined {
    if (handle === undefined) return undefined;
    const entry = this.#handles.get(handle);
    if (entry === undefined || this.#now() - entry.at > this.#maxAgeMs) return undefined;
    const inb: Bitrate = { audio: 0, video: 0 };
    const outb: Bitrate = { audio: 0, video: 0 };
    for (const s of entry.streams.values()) {
      inb[s.kind] += s.inBytes * 8;
      outb[s.kind] += s.outBytes * 8;
    }
    return { in: inb, out: outb, at: entry.at };
  }

  /** How many handles have stats (stale ones are dropped within PRUNE_EVERY_MS). */
  get size(): number {
    return this.#handles.size;
  }

  /** Local epoch ms at which Janus made an event that arrived `now` (`now` itself when it is not dated). */
  #madeAt(emitter: string, timestampUs: number | undefined, now: number): number {
    if (timestampUs === undefined) return now;
    const janusMs = timestampUs / 1000;
    const offset = now - janusMs;
    const known = this.#offsets.get(emitter);
    if (known === undefined || offset <= known.ms || now - known.seenAt > OFFSET_MEMORY_MS) {
      this.#offsets.set(emitter, { ms: offset, seenAt: now });
      return now;
    }
    return Math.min(now, janusMs + known.ms);
  }

  #record(handle: number, s: v.InferOutput<typeof MediaStats>, at: number): void {
    let entry = this.#handles.get(handle);
    if (entry === undefined) {
      entry = { at, streams: new Map() };
      this.#handles.set(handle, entry);
    }
    // A late report of an older moment does not overwrite a newer one.
    if (at < entry.at) return;
    entry.at = at;
    const key = `${s.mid ?? s.media}/${s.substream ?? 0}`;
    entry.streams.set(key, { kind: s.media, inBytes: s['bytes-received-lastsec'], outBytes: s['bytes-sent-lastsec'] });
  }

  /** Drops stale entries, at most once per PRUNE_EVERY_MS (Janus posts many times a second, one event each). */
  #prune(now: number): void {
    if (now - this.#prunedAt < PRUNE_EVERY_MS) return;
    this.#prunedAt = now;
    for (const [handle, entry] of this.#handles) if (now - entry.at > this.#maxAgeMs) this.#handles.delete(handle);
  }
}

/** Adds bitrates (undefined counts as nothing; all undefined stays undefined). */
export function sumBitrates(list: ReadonlyArray<Bitrate | undefined>): Bitrate | undefined {
  let out: Bitrate | undefined;
  for (const b of list) {
    if (b === undefined) continue;
    out = { audio: (out?.audio ?? 0) + b.audio, video: (out?.video ?? 0) + b.video };
  }
  return out;
}
