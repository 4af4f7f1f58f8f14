/**
 * The bridge's journal: what it has made on each Janus node, kept in one file so that a bridge
 * that was killed (kill -9, an OOM kill, a host's service manager restarting it) can take it all
 * back. Janus keeps the media flowing meanwhile (`reclaim_session_timeout`); the journal holds the
 * ids needed to `claim` each node's Janus session and to rebuild every stream, cascade, mountpoint
 * and player on it (../media/adopt.ts).
 *
 * The file is rewritten whole, atomically (a temporary file renamed over it), soon after each
 * change: `mark()` coalesces the changes of one turn of the event loop into one write (a few
 * hundred bytes per stream and player), and under load writes at most once per
 * JOURNAL_MIN_INTERVAL_MS (a rewrite and a rename cost far more than building the state: they were
 * a third of the bridge's CPU with 40 publishes and plays a second). A handle must be known the moment it is attached, before
 * that write: `attached()` appends one line to a side file, which each full write empties (it is
 * in the full file by then). A journal that cannot be read or does not validate is set aside with
 * a warning, never trusted: the bridge then starts fresh and sweeps what it cannot account for.
 */
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { errorText, MediaId, type Logger } from '../../protocol/index.ts';
import { JanusId } from '../janus/request.ts';
import { PublisherStreamSchema } from '../janus/videoroom.ts';

const Owner = v.picklist(['link', 'resource']);

const NodeRecord = v.object({
  session: JanusId,
  control: JanusId,
  streamingControl: JanusId,
  /**
   * Every publisher and player handle attached and not yet detached, written the moment it is
   * attached: a restart detaches those that no record below takes back (a publish or play that was
   * still being set up), so none is left in the claimed session.
   */
  handles: v.optional(v.array(JanusId), []),
});
export type NodeRecord = v.InferOutput<typeof NodeRecord>;
/** What a node's connection knows of its session: the record without the media layer's handles. */
export type NodeSession = Omit<NodeRecord, 'handles'>;

const CascadeRecord = v.object({ node: v.string(), remoteId: v.string(), remotePublisherId: JanusId });
export type CascadeRecord = v.InferOutput<typeof CascadeRecord>;

const MountTrackRecord = v.object({
  type: v.picklist(['audio', 'video']),
  mid: v.string(),
  codec: v.string(),
  pt: v.number(),
  fmtp: v.optional(v.string()),
});

const MountRecord = v.object({
  node: v.string(),
  id: JanusId,
  feed: JanusId,
  profile: v.array(MountTrackRecord),
  forwarders: v.array(v.number()),
});
export type MountRecord = v.InferOutput<typeof MountRecord>;

const PlayerRecord = v.object({
  playId: MediaId,
  owner: Owner,
  /** The client's ice-ufrag, for a resource (WHEP) play. */
  ufrag: v.optional(v.string()),
  node: v.string(),
  handle: JanusId,
  /** The mountpoint it watches. */
  mount: JanusId,
  state: v.picklist(['offered', 'starting', 'started', 'playing']),
});
export type PlayerRecord = v.InferOutput<typeof PlayerRecord>;

const StreamRecord = v.object({
  publishId: MediaId,
  name: v.string(),
  owner: Owner,
  ufrag: v.optional(v.string()),
  node: v.string(),
  room: JanusId,
  handle: JanusId,
  publisherId: JanusId,
  streams: v.array(PublisherStreamSchema),
  configuredAt: v.number(),
  publishing: v.boolean(),
  cascades: v.array(CascadeRecord),
  /** An agent's forwards to edges' copies, made at a coordinator's request. */
  forwards: v.optional(v.array(v.object({ forwardId: v.string(), edge: v.string() })), []),
  mounts: v.array(MountRecord),
  players: v.array(PlayerRecord),
});
export type StreamRecord = v.InferOutput<typeof StreamRecord>;

/** An edge's copy of a stream an agent holds at a coordinator's request, with its mountpoints and players. */
const RelayRecord = v.object({
  node: v.string(),
  stream: v.string(),
  room: JanusId,
  streams: v.array(PublisherStreamSchema),
  remotePublisherId: JanusId,
  port: v.number(),
  rtcpPort: v.number(),
  mounts: v.array(MountRecord),
  players: v.array(PlayerRecord),
});
export type RelayRecord = v.InferOutput<typeof RelayRecord>;

export const JOURNAL_VERSION = 1;

const JournalSchema = v.object({
  version: v.literal(JOURNAL_VERSION),
  /** Epoch ms of the write. */
  at: v.number(),
  nodes: v.record(v.string(), NodeRecord),
  streams: v.array(StreamRecord),
  relays: v.optional(v.array(RelayRecord), []),
});
export type JournalState = v.InferOutput<typeof JournalSchema>;

export const JOURNAL_FILE = 'journal.json';
/** Handles attached since the last full write, one `<node> <handle>` line each. */
export const HANDLES_FILE = 'handles.log';

/** Under load the journal is written at most this often; a change alone is written at once. */
export const JOURNAL_MIN_INTERVAL_MS = 25;

export class Journal {
  readonly file: string;
  readonly #handlesFile: string;
  readonly #log: Logger;
  readonly #snapshot: () => JournalState;
  /** Cancels the write that is due, when one is. */
  #pending: (() => void) | undefined;
  /** When the file was last written (performance.now()). */
  #writtenAt = -Infinity;
  /** Handles may be in the side file that no write has taken in yet (an earlier run's, at first). */
  #noted = true;
  /** Taking back an earlier run's state: a write now would lack what is not taken back yet. */
  #paused = false;
  #closed = false;

  /** `snapshot` builds the whole state to write (the node sessions and the media layer's records). */
  constructor(dir: string, snapshot: () => JournalState, log: Logger) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, JOURNAL_FILE);
    this.#handlesFile = join(dir, HANDLES_FILE);
    this.#snapshot = snapshot;
    this.#log = log.child({ component: 'journal' });
  }

  /** Reads what an earlier run left; undefined when there is nothing usable. */
  static read(dir: string, log: Logger): JournalState | undefined {
    const file = join(dir, JOURNAL_FILE);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('cannot read the journal; starting fresh', { file, err: errorText(err) });
      return undefined;
    }
    try {
      const parsed = v.safeParse(JournalSchema, JSON.parse(text));
      if (parsed.success) return withAttached(parsed.output, dir, log);
      log.warn('the journal does not validate; starting fresh', { file, issue: parsed.issues[0].message });
    } catch (err) {
      log.warn('the journal is not JSON; starting fresh', { file, err: errorText(err) });
    }
    try {
      renameSync(file, `${file}.bad-${Date.now()}`);
    } catch (err) {
      log.warn('cannot set the unusable journal aside', { file, err: errorText(err) });
    }
    return undefined;
  }

  /** A handle was just attached on `node`: on disk now (one appended line), in the full file soon. */
  attached(node: string, handle: number): void {
    if (this.#closed) return;
    try {
      appendFileSync(this.#handlesFile, `${node} ${handle}\n`, { mode: 0o600 });
      this.#noted = true;
    } catch (err) {
      this.#log.error('cannot note an attached handle: a restart could leave it in Janus', { file: this.#handlesFile, err: errorText(err) });
    }
    this.mark();
  }

  /**
   * Something changed: the journal is rewritten once this turn of the event loop is over, or, when
   * it was written less than JOURNAL_MIN_INTERVAL_MS ago, once that interval is over.
   */
  mark(): void {
    if (this.#closed || this.#paused || this.#pending !== undefined) return;
    const wait = this.#writtenAt + JOURNAL_MIN_INTERVAL_MS - performance.now();
    const run = (): void => {
      this.#pending = undefined;
      this.flush();
    };
    if (wait > 0) {
      const timer = setTimeout(run, wait);
      this.#pending = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(run);
      this.#pending = () => clearImmediate(immediate);
    }
  }

  /** Holds every write until `resume()`: the earlier run's journal stays as it is meanwhile. */
  pause(): void {
    this.#paused = true;
  }

  /** Writes again, starting with the current state. */
  resume(): void {
    this.#paused = false;
    this.mark();
  }

  /** Writes the current state now. */
  flush(): void {
    if (!this.#closed) this.#write(this.#snapshot());
  }

  #write(state: JournalState): void {
    const tmp = `${this.file}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
      renameSync(tmp, this.file);
      this.#writtenAt = performance.now();
      // Every handle noted since the last write is in this one.
      if (this.#noted) writeFileSync(this.#handlesFile, '', { mode: 0o600 });
      this.#noted = false;
    } catch (err) {
      this.#log.error('cannot write the journal: a restart could not take back what this bridge made', { file: this.file, err: errorText(err) });
    }
  }

  /**
   * Stops writing, after a last write of `last` (default: the current state). A bridge that shut
   * down cleanly writes an empty journal: it destroyed what it made, so there is nothing to take back.
   * Safe to call twice.
   */
  close(last?: JournalState): void {
    if (this.#closed) return;
    this.#pending?.();
    this.#pending = undefined;
    this.#write(last ?? this.#snapshot());
    this.#closed = true;
  }
}

/** The journal with the handles noted in the side file since its last write added to their nodes. */
function withAttached(state: JournalState, dir: string, log: Logger): JournalState {
  let text = '';
  try {
    text = readFileSync(join(dir, HANDLES_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('cannot read the attached-handles file', { err: errorText(err) });
    return state;
  }
  for (const line of text.split('\n')) {
    const m = /^(\S+) (\d+)$/.exec(line);
    const rec = m === null ? undefined : state.nodes[m[1] ?? ''];
    const handle = Number(m?.[2]);
    if (rec !== undefined && Number.isSafeInteger(handle) && !rec.handles.includes(handle)) rec.handles.push(handle);
  }
  return state;
}
