/**
 * NOT_ENOUGH_BANDWIDTH from the stream's own statistics: packets lost against packets received
 * (a player's inbound-rtp) or sent (a publisher's remote-inbound-rtp against outbound-rtp), over a
 * sliding window. Pure arithmetic here; stream.ts feeds it from `RTCPeerConnection.getStats()`.
 */

/** Loss detection settings; every field has a named default. */
export interface BandwidthMonitorOptions {
  /** How often getStats is read (ms). Default 1000. */
  intervalMs?: number;
  /** The window the loss is measured over (ms). Default 5000. */
  windowMs?: number;
  /** Loss fraction (0..1) above which the event fires. Default 0.1 (10 %). */
  threshold?: number;
  /** Fewer packets than this in the window says nothing. Default 50. */
  minPackets?: number;
}

export const BANDWIDTH_DEFAULTS: Required<BandwidthMonitorOptions> = {
  intervalMs: 1000,
  windowMs: 5000,
  threshold: 0.1,
  minPackets: 50,
};

/** The figures carried by a NOT_ENOUGH_BANDWIDTH event. */
export interface BandwidthReport {
  /** `client`: the SDK's own statistics; `server`: a status event from the server. */
  source: 'client' | 'server';
  /** `inbound`: what this player receives; `outbound`: what this publisher sends. */
  direction: 'inbound' | 'outbound';
  /** Packets lost in the window. */
  packetsLost: number;
  /** Packets that arrived (player) or were sent (publisher) in the window. */
  packets: number;
  /** packetsLost / (packetsLost + packets for a player; packets for a publisher), in percent. */
  lossPercent: number;
  /** The window the figures cover (ms). */
  windowMs: number;
  /** The threshold that was crossed, in percent. */
  thresholdPercent: number;
  /** The server's own words, for `source: 'server'`. */
  info?: string;
  /** Every number the server's status event carried, for `source: 'server'`. */
  figures?: Record<string, number>;
}

interface Sample {
  t: number;
  lost: number;
  packets: number;
}

/**
 * Keeps cumulative (lost, packets) counters over a window and says when the loss crosses the
 * threshold. Fires once per crossing, and again at most once per window while it stays above.
 *
 * @example
 * const w = new LossWindow('inbound', { threshold: 0.05 });
 * const report = w.push(Date.now(), stats.packetsLost, stats.packetsReceived);
 * if (report) console.warn(`${report.lossPercent}% lost`);
 */
export class LossWindow {
  readonly #opts: Required<BandwidthMonitorOptions>;
  readonly #direction: 'inbound' | 'outbound';
  #samples: Sample[] = [];
  #lastFired = -Infinity;
  #above = false;

  constructor(direction: 'inbound' | 'outbound', opts: BandwidthMonitorOptions = {}) {
    this.#direction = direction;
    this.#opts = { ...BANDWIDTH_DEFAULTS, ...opts };
  }

  /**
   * Adds the cumulative counters read at time `t` (ms); returns a report when the event should fire.
   */
  push(t: number, lost: number, packets: number): BandwidthReport | undefined {
    const prev = this.#samples[this.#samples.length - 1];
    // Counters that go backwards (a new SSRC, a renegotiation) start the window again.
    if (prev !== undefined && (lost < prev.lost || packets < prev.packets)) this.#samples = [];
    this.#samples.push({ t, lost, packets });
    // Keep the newest sample at or before the window start as the baseline.
    while (this.#samples.length > 2 && (this.#samples[1]?.t ?? t) <= t - this.#opts.windowMs) this.#samples.shift();
    const base = this.#samples[0];
    if (base === undefined || base === this.#samples[this.#samples.length - 1]) return undefined;
    const dLost = Math.max(0, lost - base.lost);
    const dPackets = Math.max(0, packets - base.packets);
    // A player counts lost packets apart from received ones; a publisher's "sent" includes them.
    const total = this.#direction === 'inbound' ? dLost + dPackets : dPackets;
    if (total < this.#opts.minPackets) return undefined;
    const fraction = dLost / total;
    if (fraction <= this.#opts.threshold) {
      this.#above = false;
      return undefined;
    }
    if (this.#above && t - this.#lastFired < this.#opts.windowMs) return undefined;
    this.#above = true;
    this.#lastFired = t;
    return {
      source: 'client',
      direction: this.#direction,
      packetsLost: dLost,
      packets: dPackets,
      lossPercent: Math.round(fraction * 1000) / 10,
      windowMs: t - base.t,
      thresholdPercent: Math.round(this.#opts.threshold * 1000) / 10,
    };
  }
}

/** The counters a window needs, summed over the RTP streams of one peer connection. */
export interface LossCounters {
  lost: number;
  packets: number;
}

/** A stats entry as getStats yields it, read without trusting its shape. */
type StatsEntry = Record<string, unknown>;

function num(entry: StatsEntry, key: string): number {
  const value = entry[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/**
 * Sums the loss counters of a getStats report: inbound-rtp for a player, remote-inbound-rtp
 * against outbound-rtp for a publisher.
 *
 * @example
 * const counters = lossCounters(await pc.getStats(), 'inbound');
 */
export function lossCounters(entries: Iterable<StatsEntry>, direction: 'inbound' | 'outbound'): LossCounters {
  let lost = 0;
  let packets = 0;
  for (const e of entries) {
    if (direction === 'inbound' && e['type'] === 'inbound-rtp') {
      lost += num(e, 'packetsLost');
      packets += num(e, 'packetsReceived');
    } else if (direction === 'outbound' && e['type'] === 'remote-inbound-rtp') {
      lost += num(e, 'packetsLost');
    } else if (direction === 'outbound' && e['type'] === 'outbound-rtp') {
      packets += num(e, 'packetsSent');
    }
  }
  return { lost, packets };
}
