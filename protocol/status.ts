/**
 * The operations part of the bridge API: what the worker reports (its session and frame counters)
 * and what it reads for the live dashboard (streams, their edges and viewers, bitrates, and a
 * short history of viewers). Pure: no runtime imports, shared by the bridge and the worker.
 */
import * as v from 'valibot';
import { ERROR_CODE_NAMES } from './errors.ts';

const Count = v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(0, 'must not be negative'), v.maxValue(1e9, 'must be at most 1e9'));

/**
 * The worker's counters since its previous report (deltas, never totals): sessions that started and
 * ended, WCS frames in and out, and the frames it refused, by error code (INVALID_ARGUMENT: frames
 * that failed validation).
 */
export const WorkerReport = v.strictObject({
  sessionsOpened: Count,
  sessionsClosed: Count,
  framesIn: Count,
  framesOut: Count,
  rejected: v.record(v.picklist(ERROR_CODE_NAMES), Count),
});
export type WorkerReport = v.InferOutput<typeof WorkerReport>;

/** Bits per second, from Janus's own per-handle statistics. */
export const Bitrate = v.object({ audio: v.number(), video: v.number() });
export type Bitrate = v.InferOutput<typeof Bitrate>;

/** One node's share of a live stream: the origin itself, or an edge it is relayed to. */
export const StreamNodeInfo = v.object({
  node: v.string(),
  role: v.picklist(['origin', 'edge']),
  /** origin: always ready; edge: the relay's state. */
  state: v.picklist(['pending', 'ready', 'failed']),
  viewers: v.number(),
  /** What Janus sends to this node's viewers of the stream, summed; absent until Janus reported. */
  bitrateOut: v.optional(Bitrate),
});
export type StreamNodeInfo = v.InferOutput<typeof StreamNodeInfo>;

export const StreamInfo = v.object({
  name: v.string(),
  /** The origin node's id. */
  origin: v.string(),
  /** Epoch ms the publisher was configured (0 while it is being set up). */
  since: v.number(),
  /** The publisher's media is flowing (PUBLISHING was sent). */
  publishing: v.boolean(),
  /** What the origin receives from the publisher; absent until Janus reported. */
  bitrateIn: v.optional(Bitrate),
  /** ms from publisher configured to relayed on every edge, once known. */
  cascadeReadyMs: v.optional(v.number()),
  viewers: v.number(),
  /** The origin first, then every edge the stream is relayed (or being relayed) to. */
  nodes: v.array(StreamNodeInfo),
});
export type StreamInfo = v.InferOutput<typeof StreamInfo>;

/** Viewers and live streams at one moment (the dashboard's chart). */
export const ViewerSample = v.object({ t: v.number(), viewers: v.number(), streams: v.number() });
export type ViewerSample = v.InferOutput<typeof ViewerSample>;

export const StreamsResult = v.object({
  /** Epoch ms of this answer. */
  at: v.number(),
  streams: v.array(StreamInfo),
  /** Oldest first, at a fixed period (see `historyPeriodMs`). */
  history: v.array(ViewerSample),
  historyPeriodMs: v.number(),
});
export type StreamsResult = v.InferOutput<typeof StreamsResult>;
