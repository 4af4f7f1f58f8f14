/**
 * One stream of a WCS session (a publish or a play) and the one state it is in. The session
 * (./session.ts) moves it along; the relink (./relink.ts) reads it.
 */

/**
 * Where a stream stands. Every path ends in 'ended' (the entry then leaves the session's maps):
 *
 *   admitted --(token ok, link open)--> requested --(reply)--> running | awaiting-answer
 *   requested --(PUBLISHING/PLAYING before the reply)--> up-early --(reply)--> running
 *   awaiting-answer --(client's setRemoteSDP)--> running --(PUBLISHING/PLAYING told)--> up
 *   any --(stop, FAILED/UNPUBLISHED/STOPPED event, a reply lost with the link, a link not
 *          re-bound, refusal, error)--> ended
 *
 * A lost link that is re-bound (./relink.ts) leaves 'running', 'up' and 'awaiting-answer' as they
 * were. A bridge tells a re-bound link again what is up; an 'up' stream does not tell its client twice.
 */
export type EntryState =
  /** Checks (token, node, edge choice, link) still run; the bridge has not been asked. */
  | 'admitted'
  /** The publish/play request is out under `ref`; its reply is due. */
  | 'requested'
  /** The bridge said media is up before its reply came: the reply sends the SDP, then the status. */
  | 'up-early'
  /** Server-offer play: the offer went to the client; its answer is due. */
  | 'awaiting-answer'
  /** SDPs exchanged: the bridge's events go to the client. */
  | 'running'
  /** PUBLISHING or PLAYING was told to the client (a repeat of it is not). */
  | 'up'
  | 'ended';

export interface StreamEntry {
  readonly mediaSessionId: string;
  readonly name: string;
  readonly kind: 'publish' | 'play';
  /** The bridge's id of this publish or play, named here before the bridge is asked. */
  readonly ref: string;
  state: EntryState;
  /** A publish whose name the CDN-wide lock holds for it (released when it ends). */
  claimed?: boolean;
}

/** An entry's state as it is now (its handlers change it while a request is out). */
export function stateOf(entry: StreamEntry): EntryState {
  return entry.state;
}
