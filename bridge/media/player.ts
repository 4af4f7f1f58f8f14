/**
 * One player: a Streaming handle on a node watching a mountpoint of the stream there (found or
 * made by what it plays from on that node: the stream on its origin or an edge's copy, see
 * ./mounts.ts), and then either Janus's offer for the client to
 * answer (no client offer), or, for a client that offered, Janus's offer answered on its behalf
 * and the client's offer answered from Janus's (../sdp).
 *
 *   joining ─┬─(Janus offers)──> offered ──answer()──> starting ──> started ──(WebRTC up)──> playing
 *            └─(client offered)───────────────────────> starting ──> started ──(WebRTC up)──> playing
 *   close() from any state ──> closing ──> closed
 *
 * Its id is registered from the moment the play request arrives (the `joining` state), so `stop`
 * and `trickle` work while `open()` runs; a `stop` then ends it and `open()` fails. Changes to its
 * handle run one at a time (its Serial). `close()` is safe to call twice.
 */
import { Errors, type Logger, type Result } from '../../protocol/index.ts';
import type { Owner } from '../api/index.ts';
import { JANUS_CORE_ERROR, sdpError, toCdnError } from '../janus/errors.ts';
import { CandidateCollector, watchHandle } from '../janus/handle.ts';
import * as st from '../janus/streaming.ts';
import type { JanusHandle } from '../janus/videoroom.ts';
import { reconcile, watchedMids, type Description, type PlaybackPlan } from '../sdp/index.ts';
import { reachable, type MediaContext, type MediaNode } from './context.ts';
import { MediaErrors } from './errors.ts';
import type { Mount } from './mount.ts';
import type { PlaySource } from './mounts.ts';
import { Serial, signal, type Signal } from './plan.ts';

export type PlayerState = 'joining' | 'offered' | 'starting' | 'started' | 'playing' | 'closing' | 'closed';

/** How a player ended, as its owner is told; undefined when the owner asked (stop, its link closed). */
export type PlayerEnding = { status: 'STOPPED' | 'FAILED'; info: string };

/** A player that sends its own offer: the offer as read, and which of its m-lines gets which track. */
export interface ClientOffer {
  offer: Description;
  plan: PlaybackPlan;
}

export class Player {
  readonly serial = new Serial();
  readonly node: MediaNode;
  readonly generation: number;
  /** Resolved once the handle is attached, or the player closes (a trickle waits for it). */
  readonly attached: Signal = signal();
  /** Resolved when it starts closing (a join waiting for its feed stops waiting). */
  readonly #ended: Signal = signal();
  #state: PlayerState = 'joining';
  /** Why it is closing: how its owner was told, or 'asked' (stop, release, a refused answer). */
  #ending: PlayerEnding | 'asked' | undefined;
  #closing: Promise<void> | undefined;
  #handle: JanusHandle | undefined;
  /** The mountpoint it watches. */
  #mount: Mount | undefined;
  #unwatch: () => void = () => undefined;
  #answerTimer: NodeJS.Timeout | undefined;
  /**
   * How its answer stood when it was taken back after a restart (undefined: it was not taken back).
   * `answered`: Janus had it, so a repeated answer is the one it already took. `unknown`: waiting
   * for (or applying) it, so the answer sent again is applied, and Janus refusing it as unexpected
   * means it had it.
   */
  #takenBack: 'answered' | 'unknown' | undefined;
  readonly #log: Logger;

  constructor(
    readonly ctx: MediaContext,
    readonly playId: string,
    /** Who is told its events; a link that re-binds it after a lost link takes it over (`bind`). */
    public owner: Owner,
    /** What it plays from on its node (whose `node` it is). */
    readonly source: PlaySource,
    /** Told when it starts closing (the registry forgets its id). */
    readonly onClosing: (p: Player) => void,
  ) {
    this.node = source.node;
    this.generation = source.node.generation;
    this.#log = ctx.log;
  }

  get state(): PlayerState {
    return this.#state;
  }

  get handle(): JanusHandle | undefined {
    return this.#handle;
  }

  get mount(): Mount | undefined {
    return this.#mount;
  }

  /** Closed by its owner's own request (stop, release) rather than by an event. */
  get endedByOwner(): boolean {
    return this.#ending === 'asked';
  }

  /**
   * Takes back a player an earlier bridge run made (./adopt.ts): Janus kept its handle and its
   * PeerConnection on `mount`; its handle is watched again. One still waiting for its client's
   * answer gets a new answer timer.
   */
  adopt(handle: JanusHandle, mount: Mount, state: 'offered' | 'starting' | 'started' | 'playing'): void {
    this.#handle = handle;
    this.#unwatch = this.#watch(handle);
    this.attached.resolve();
    this.#mount = mount;
    mount.players.add(this);
    this.#state = state;
    this.#takenBack = state === 'offered' ? 'unknown' : 'answered';
    if (state === 'offered') this.#armAnswerTimer();
  }

  #armAnswerTimer(): void {
    const ms = this.ctx.answerTimeoutMs;
    this.#answerTimer = setTimeout(() => void this.close({ status: 'FAILED', info: `no answer to the offer within ${ms} ms` }), ms);
    this.#answerTimer.unref();
  }

  /**
   * Its WebRTC is up: PLAYING, told to its owner. From Janus's `webrtcup`, or, for a player taken
   * back after a restart whose `webrtcup` came while nobody listened, from Janus's statistics.
   */
  markPlaying(): void {
    // One taken back waiting for its answer whose media flows: Janus had the answer.
    if (this.#state === 'offered' && this.#takenBack === 'unknown') {
      clearTimeout(this.#answerTimer);
      this.#state = 'started';
    }
    if (this.#state !== 'starting' && this.#state !== 'started') return;
    this.#state = 'playing';
    this.ctx.changed();
    this.#log.info('playing', { stream: this.source.name, node: this.node.id, playId: this.playId });
    this.ctx.send(this.owner, { event: 'player', playId: this.playId, stream: this.source.name, status: 'PLAYING' });
  }

  /** Set by its mountpoints when the player joins one. */
  joined(mount: Mount): void {
    this.#mount = mount;
  }

  #check(): void {
    if (this.#state === 'closing' || this.#state === 'closed') throw MediaErrors.playEnded(this.source.name);
    if (!reachable(this.node, this.generation)) throw this.node.unavailable();
  }

  /** Joins: a mountpoint, a handle watching it, and the offer or answer for the client. Throws on any failure (the caller closes). */
  async open(client: ClientOffer | undefined): Promise<Result<'play'>> {
    const ctx = this.ctx;
    const node = this.node;
    const source = this.source;
    const feed = await source.feed(this.#ended.promise);
    this.#check();
    return this.serial.run(async () => {
      const mount = await source.mounts.acquire(this, feed, client?.plan);
      this.#check();
      const handle = await ctx.attach(node, () => node.attachStreaming());
      this.#handle = handle;
      this.#unwatch = this.#watch(handle);
      this.attached.resolve();
      ctx.recount(node);
      this.#check();
      const collector = new CandidateCollector(handle);
      let janusOffer: string;
      try {
        const mids = client === undefined ? undefined : watchedMids(client.plan);
        if (mount.id === undefined) throw Errors.internal(`the mountpoint of "${source.name}" on ${node.id} has no id`);
        janusOffer = await collector.complete(await st.watch(handle, { id: mount.id, mids }, ctx.rq), ctx.candidateWaitMs);
      } finally {
        collector.dispose();
      }
      this.#check();
      if (client === undefined) {
        this.#state = 'offered';
        this.#armAnswerTimer();
        ctx.changed();
        this.#log.info('player joined', { stream: source.name, node: node.id, playId: this.playId, mount: mount.key });
        return { sdp: janusOffer, type: 'offer' };
      }
      const answers = reconcile(client.offer, janusOffer, client.plan);
      this.#state = 'starting';
      await st.start(handle, answers.toJanus, ctx.rq);
      if (this.#state === 'starting') this.#state = 'started';
      ctx.changed();
      this.#log.info('player joined with its own offer', { stream: source.name, node: node.id, playId: this.playId, mount: mount.key });
      return { sdp: answers.toPlayer, type: 'answer' };
    });
  }

  /** The client's answer to Janus's offer. A refused one ends the player: it cannot take another. */
  async answer(sdp: string): Promise<void> {
    let failure: Error | undefined;
    await this.serial.run(async () => {
      if (this.#state === 'closing' || this.#state === 'closed') throw MediaErrors.ended(this.playId);
      // The answer whose reply was lost with the earlier run: the worker sends it again on its new link.
      if (this.#takenBack === 'answered') return;
      if (this.#state !== 'offered' || this.#handle === undefined) throw MediaErrors.notWaitingForAnswer(this.playId);
      this.#state = 'starting';
      clearTimeout(this.#answerTimer);
      try {
        await st.start(this.#handle, sdp, this.ctx.rq);
        if (this.#state === 'starting') this.#state = 'started';
        this.ctx.changed();
      } catch (err) {
        const e = toCdnError(err, `answer for play "${this.playId}"`);
        if (this.#takenBack === 'unknown' && e.janusCode === JANUS_CORE_ERROR.UNEXPECTED_ANSWER) {
          if (this.#state === 'starting') this.#state = 'started';
          this.ctx.changed();
          return;
        }
        failure = sdpError(e);
      }
    });
    if (failure !== undefined) {
      await this.close(undefined);
      throw failure;
    }
  }

  #watch(handle: JanusHandle): () => void {
    const end = (e: PlayerEnding): void => void this.close(e);
    return watchHandle(
      handle,
      'streaming',
      {
        webrtcup: () => this.markPlaying(),
        hangup: (reason) => end({ status: /ice/i.test(reason) ? 'FAILED' : 'STOPPED', info: `the player hung up (${reason})` }),
        iceFailed: () => end({ status: 'FAILED', info: 'ICE failed' }),
        detached: () =>
          end({
            status: 'FAILED',
            info: reachable(this.node, this.generation) ? 'the subscriber handle was detached' : `node "${this.node.id}" went down`,
          }),
        destroyed: () => end({ status: 'STOPPED', info: 'its mountpoint was destroyed' }),
        slowlink: (e) => this.ctx.send(this.owner, { event: 'slowlink', id: this.playId, stream: this.source.name, uplink: e.uplink, lost: e.lost }),
      },
      (err, event) => this.#log.warn('player event handling failed', { playId: this.playId, event, err }),
    );
  }

  /**
   * Ends the player: its owner told with `ending` (undefined: it asked, so it is not told), its
   * handle detached, its mountpoint left (dropped when it was the last player).
   * Safe to call twice: the second call gets the first one's promise.
   */
  close(ending: PlayerEnding | undefined): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const wasUp = this.#state !== 'joining';
    this.#state = 'closing';
    this.#ending = ending ?? 'asked';
    clearTimeout(this.#answerTimer);
    this.attached.resolve();
    this.#ended.resolve();
    this.onClosing(this);
    this.source.players.delete(this);
    this.ctx.ended(this.playId, ending?.status ?? 'STOPPED', ending?.info ?? 'stopped');
    this.ctx.changed();
    if (ending !== undefined && wasUp) {
      this.ctx.send(this.owner, { event: 'player', playId: this.playId, stream: this.source.name, status: ending.status, info: ending.info });
    }
    this.#closing = this.serial
      .run(async () => {
        this.#unwatch();
        const node = this.node;
        if (this.#handle !== undefined && reachable(node, this.generation)) {
          await this.ctx.quietly(this.#handle.detach(), `detach player ${this.playId}`);
        }
        this.#handle = undefined;
        const mount = this.#mount;
        this.#mount = undefined;
        if (mount !== undefined) this.source.mounts.leave(this, mount);
        this.ctx.recount(node);
        if (wasUp) this.#log.info('player ended', { stream: this.source.name, node: node.id, playId: this.playId, info: ending?.info ?? 'stopped' });
      })
      .catch((err: unknown) => this.#log.error('player cleanup failed', { playId: this.playId, err }))
      .finally(() => {
        this.#state = 'closed';
      });
    return this.#closing;
  }
}
