/**
 * The shape of bench/results.json: every measurement of one run with the machine, the versions and
 * the commit it ran on, so two runs (say, before and after a change to edge playback) can be
 * compared field by field.
 */
import type { GitInfo, MachineInfo, Versions } from '../lib/machine.ts';
import type { FanoutResult } from '../phases/fanout.ts';
import type { HopResult } from '../phases/hop-latency.ts';
import type { MemoryResult } from '../phases/memory.ts';
import type { PublishToPlayableResult } from '../phases/publish-playable.ts';
import type { SignallingResult } from '../phases/signalling.ts';
import type { TtffResult } from '../phases/ttff.ts';

export const PHASES = ['ttff', 'publish', 'hop', 'signalling', 'memory', 'fanout'] as const;
export type Phase = (typeof PHASES)[number];

export interface PlayPath {
  /** `s=` of the SDP that Fanout's players got, with counts ("VideoRoom <id>": a VideoRoom subscriber). */
  fanout: Record<string, number>;
  janus: Record<string, number>;
  /** Whether the edge's Janus has the Streaming plugin loaded (a mountpoint-based play path needs it). */
  streamingPluginOnEdge: boolean | null;
  /** One line for people: which path Fanout's players used in this run. */
  summary: string;
}

export interface BenchResults {
  schema: 1;
  mode: 'full' | 'quick';
  /** Phases run (all unless --only). */
  phases: Phase[];
  startedAt: string;
  durationS: number;
  git: GitInfo;
  machine: MachineInfo;
  versions: Versions;
  /** ms for `npm start`'s launcher to report the whole stack up (Janus x3, bridge, wrangler dev). */
  stackStartMs?: number | undefined;
  playPath?: PlayPath | undefined;
  ttff?: TtffResult | undefined;
  publishToPlayable?: PublishToPlayableResult | undefined;
  hop?: HopResult | undefined;
  signalling?: SignallingResult | undefined;
  memory?: MemoryResult | undefined;
  fanout?: FanoutResult | undefined;
  errors: Array<{ phase: string; error: string }>;
}
