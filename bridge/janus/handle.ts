/**
 * What every Janus handle has, whatever its plugin: the events the media layer reacts to (typed,
 * validated, listener errors contained), and the gathering of Janus's trickled ICE candidates into
 * its SDP. Janus runs with full trickle, so its offers and answers carry no candidates; the worker
 * protocol has no trickle from Janus, so the bridge gathers them from the handle and hands clients
 * a complete description.
 *
 * The one plugin-specific part is how a handle hears that what it is in was destroyed, so
 * `watchHandle` is told the plugin:
 * - VideoRoom: Janus tells the room's participants `{videoroom: "destroyed"}`, which Janode emits
 *   as `videoroom_destroyed`.
 * - Streaming: Janus 1.1.2 tells a destroyed mountpoint's viewers `{streaming: "event", result:
 *   {status: "stopped"}}` (Janode: `streaming_status` with status "stopped"), then closes their
 *   PeerConnection ("Close PC" hangup, measured ~0.4 s later). Janode's `streaming_destroyed` is
 *   the reply to whoever asked for the destroy, so it reaches a viewer only if Janus ever sends it
 *   one; both are taken.
 */
import * as v from 'valibot';
import type { JanusHandle } from './request.ts';

/** Janode's core handle event names (the same on every plugin's handles). */
export const EVENT = {
  WEBRTCUP: 'handle_webrtcup',
  MEDIA: 'handle_media',
  HANGUP: 'handle_hangup',
  ICE_FAILED: 'handle_ice_failed',
  DETACHED: 'handle_detached',
  SLOWLINK: 'handle_slowlink',
  TRICKLE: 'handle_trickle',
} as const;

/** Janode's plugin event names that say a handle's room or mountpoint is gone (see the header). */
export const PLUGIN_EVENT = {
  VIDEOROOM_DESTROYED: 'videoroom_destroyed',
  STREAMING_DESTROYED: 'streaming_destroyed',
  STREAMING_STATUS: 'streaming_status',
} as const;

/** The plugins the bridge attaches handles to. */
export type JanusPlugin = 'videoroom' | 'streaming';

const MediaEventSchema = v.object({ type: v.string(), receiving: v.boolean(), mid: v.optional(v.string()) });
export type MediaEvent = v.InferOutput<typeof MediaEventSchema>;
const HangupSchema = v.object({ reason: v.optional(v.string()) });
const StreamingStatusSchema = v.object({ status: v.string() });
const SlowlinkSchema = v.object({ uplink: v.boolean(), lost: v.optional(v.number(), 0), media: v.optional(v.string()) });
export type SlowlinkEvent = v.InferOutput<typeof SlowlinkSchema>;

export interface HandleListeners {
  webrtcup?(): void;
  media?(e: MediaEvent): void;
  hangup?(reason: string): void;
  iceFailed?(): void;
  /** The handle is gone (detached by anyone, or its session ended). */
  detached?(): void;
  slowlink?(e: SlowlinkEvent): void;
  /** The room (VideoRoom) or mountpoint (Streaming) was destroyed under the handle. */
  destroyed?(): void;
}

/**
 * Subscribes typed listeners to the events of a handle of `plugin`; returns the unsubscribe
 * function. A listener that throws, or an event that does not validate, is reported to `onError`
 * and goes no further.
 */
export function watchHandle(h: JanusHandle, plugin: JanusPlugin, listeners: HandleListeners, onError: (err: unknown, event: string) => void): () => void {
  const subs: Array<[string, (data: unknown) => void]> = [];
  const on = <S extends v.GenericSchema>(event: string, schema: S, call: (data: v.InferOutput<S>) => void): void => {
    const listener = (data: unknown): void => {
      try {
        const parsed = v.safeParse(schema, data ?? {});
        if (!parsed.success) throw new Error(`unexpected ${event} event: ${JSON.stringify(data)}`);
        call(parsed.output);
      } catch (err) {
        onError(err, event);
      }
    };
    h.on(event, listener);
    subs.push([event, listener]);
  };
  const any = v.unknown();
  if (listeners.webrtcup) on(EVENT.WEBRTCUP, any, () => listeners.webrtcup?.());
  if (listeners.media) on(EVENT.MEDIA, MediaEventSchema, (e) => listeners.media?.(e));
  if (listeners.hangup) on(EVENT.HANGUP, HangupSchema, (e) => listeners.hangup?.(e.reason ?? 'hangup'));
  if (listeners.iceFailed) on(EVENT.ICE_FAILED, any, () => listeners.iceFailed?.());
  if (listeners.detached) on(EVENT.DETACHED, any, () => listeners.detached?.());
  if (listeners.slowlink) on(EVENT.SLOWLINK, SlowlinkSchema, (e) => listeners.slowlink?.(e));
  if (listeners.destroyed && plugin === 'videoroom') on(PLUGIN_EVENT.VIDEOROOM_DESTROYED, any, () => listeners.destroyed?.());
  if (listeners.destroyed && plugin === 'streaming') {
    on(PLUGIN_EVENT.STREAMING_DESTROYED, any, () => listeners.destroyed?.());
    on(PLUGIN_EVENT.STREAMING_STATUS, StreamingStatusSchema, (e) => {
      if (e.status === 'stopped') listeners.destroyed?.();
    });
  }
  return () => {
    for (const [event, listener] of subs.splice(0)) h.off(event, listener);
  };
}

// ---------------------------------------------------------------- trickled candidates

const TrickleSchema = v.union([
  v.object({ completed: v.literal(true) }),
  v.object({
    candidate: v.string(),
    sdpMid: v.optional(v.string()),
    sdpMLineIndex: v.optional(v.number()),
  }),
]);

export interface TrickledCandidate {
  candidate: string;
  sdpMid?: string | undefined;
  sdpMLineIndex?: number | undefined;
}

/**
 * Collects the candidates Janus trickles on a handle. Start it before the request that makes
 * Janus gather (the events can arrive before the reply), then `complete()` the SDP from the reply.
 */
export class CandidateCollector {
  readonly #h: JanusHandle;
  readonly #candidates: TrickledCandidate[] = [];
  #completed = false;
  #wake: (() => void) | undefined;
  readonly #listener = (data: unknown): void => {
    const parsed = v.safeParse(TrickleSchema, data);
    if (!parsed.success) return;
    if ('completed' in parsed.output) this.#completed = true;
    else this.#candidates.push(parsed.output);
    this.#wake?.();
  };

  constructor(h: JanusHandle) {
    this.#h = h;
    h.on(EVENT.TRICKLE, this.#listener);
  }

  /** Waits up to `waitMs` for the end of gathering, stops listening, and adds what came to `sdp`. */
  async complete(sdp: string, waitMs: number): Promise<string> {
    if (!this.#completed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.#wake = () => {
          if (this.#completed) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
    }
    this.dispose();
    return addCandidates(sdp, this.#candidates, this.#completed);
  }

  dispose(): void {
    this.#wake = undefined;
    this.#h.off(EVENT.TRICKLE, this.#listener);
  }
}

/**
 * Adds trickled candidates to an SDP, each in the m-section it names (by mid, else by index), and
 * `a=end-of-candidates` where candidates were added when gathering completed. Candidates already in
 * the SDP are not repeated.
 */
export function addCandidates(sdp: string, candidates: readonly TrickledCandidate[], completed: boolean): string {
  if (candidates.length === 0) return sdp;
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  // Split into the session part and one part per m-section.
  const sections: string[][] = [[]];
  for (const line of lines) {
    if (line.startsWith('m=')) sections.push([]);
    sections[sections.length - 1]!.push(line);
  }
  const media = sections.slice(1);
  const midOf = (section: string[]): string | undefined => section.find((l) => l.startsWith('a=mid:'))?.slice('a=mid:'.length);
  const touched = new Set<string[]>();
  for (const c of candidates) {
    const byMid = c.sdpMid === undefined ? undefined : media.find((s) => midOf(s) === c.sdpMid);
    const section = byMid ?? (c.sdpMLineIndex === undefined ? media[0] : media[c.sdpMLineIndex]);
    if (section === undefined) continue;
    const line = `a=${c.candidate.replace(/^a=/, '')}`;
    if (section.includes(line)) continue;
    const endAt = section.indexOf('a=end-of-candidates');
    section.splice(endAt === -1 ? section.length : endAt, 0, line);
    touched.add(section);
  }
  if (completed) for (const s of touched) if (!s.includes('a=end-of-candidates')) s.push('a=end-of-candidates');
  return `${sections.flat().join(eol)}${eol}`;
}
