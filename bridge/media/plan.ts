/**
 * The pure parts of the media layer: what an edge's remote publisher must look like for an origin
 * publisher, which streams of a publish are usable, room ids, and the per-entity serial queue.
 * No Janode, no I/O: unit-tested on their own.
 */
import { randomBytes } from 'node:crypto';
import type { PublisherStream, RemoteStreamSpec } from '../janus/videoroom.ts';
import type { SourceTrack } from '../sdp/index.ts';

/** What every Fanout room allows: a publisher may use either video codec. */
export const ROOM_AUDIO_CODECS = 'opus';
export const ROOM_VIDEO_CODECS = 'vp8,h264';

/** Room descriptions start with this, so a restarted bridge can find (and sweep) its rooms. */
export const ROOM_PREFIX = 'fanout:';

export function roomDescription(stream: string): string {
  return `${ROOM_PREFIX}${stream}`;
}

/** The streams of a configured publisher that carry media an edge or a viewer can use. */
export function usableStreams(streams: readonly PublisherStream[]): PublisherStream[] {
  return streams.filter((s) => (s.type === 'audio' || s.type === 'video') && s.codec !== undefined && s.disabled !== true);
}

/**
 * The streams of an edge's remote publisher for an origin publisher. The origin forwards stream
 * `mindex` with SSRC 1000 + 10 * mindex and the edge numbers its streams by their position in this
 * array, so position i must describe the origin's mindex i: gaps (data channels, rejected or
 * disabled m-lines) become disabled placeholders that subscribers never see.
 */
export function remotePublisherStreams(streams: readonly PublisherStream[]): RemoteStreamSpec[] {
  const usable = usableStreams(streams);
  if (usable.length === 0) return [];
  const byMindex = new Map(usable.map((s) => [s.mindex, s]));
  const last = Math.max(...usable.map((s) => s.mindex));
  const out: RemoteStreamSpec[] = [];
  for (let mindex = 0; mindex <= last; mindex++) {
    const s = byMindex.get(mindex);
    if (s !== undefined && s.codec !== undefined && (s.type === 'audio' || s.type === 'video')) {
      out.push({ type: s.type, mindex, mid: s.mid, codec: s.codec });
    } else {
      out.push({ type: 'audio', mindex, mid: String(mindex), codec: 'opus', disabled: true });
    }
  }
  return out;
}

/** The H264 profile of a publisher's video, if it sends H264 (e.g. "42e01f"). */
export function h264Profile(streams: readonly PublisherStream[]): string | undefined {
  return usableStreams(streams).find((s) => s.type === 'video' && s.codec === 'h264' && s.h264_profile !== undefined)?.h264_profile;
}

/**
 * The tracks a stream's mountpoints carry, one per usable publisher stream in mindex order. The
 * mountpoint mid is the publisher's own (Chromium's "0", "1"), which is also what the Flashphoner
 * WebSDK's players use, so their sdes:mid header extension can be kept.
 */
export function sourceTracks(streams: readonly PublisherStream[]): SourceTrack[] {
  return usableStreams(streams).flatMap((s) =>
    (s.type === 'audio' || s.type === 'video') && s.codec !== undefined ? [{ type: s.type, codec: s.codec, h264Profile: s.h264_profile, mid: s.mid }] : [],
  );
}

/**
 * The mid of a publisher stream in the room of a node: the origin publisher's own; on an edge the
 * remote publisher numbers its streams by position, which remotePublisherStreams makes the mindex.
 */
export function feedMid(streams: readonly PublisherStream[], mid: string, onOrigin: boolean): string | undefined {
  const s = streams.find((x) => x.mid === mid);
  if (s === undefined) return undefined;
  return onOrigin ? s.mid : String(s.mindex);
}

/** A short summary of a publish for logs and errors, e.g. "audio opus + video vp8". */
export function describeStreams(streams: readonly PublisherStream[]): string {
  return usableStreams(streams)
    .map((s) => `${s.type} ${s.codec ?? '?'}`)
    .join(' + ');
}

/** A random room id in [1, 2^48): JavaScript-safe, and unlikely to meet a stale room. */
export function newRoomId(taken: (room: number) => boolean): number {
  for (;;) {
    const room = randomBytes(6).readUIntBE(0, 6);
    if (room > 0 && !taken(room)) return room;
  }
}

/**
 * Runs tasks one at a time, in order. A task's failure is its caller's; the queue goes on.
 * Tasks must not wait on their own queue (that would deadlock).
 */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task, task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

/** A promise with its resolver, for "ready" signals; `settled` says whether it was resolved. */
export interface Signal {
  readonly promise: Promise<void>;
  readonly settled: boolean;
  resolve(): void;
}

export function signal(): Signal {
  let resolve!: () => void;
  let settled = false;
  const promise = new Promise<void>((r) => (resolve = r));
  return {
    promise,
    get settled() {
      return settled;
    },
    resolve: () => {
      settled = true;
      resolve();
    },
  };
}

/** Resolves with true when `promise` settles within `ms`, false otherwise. */
export function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
