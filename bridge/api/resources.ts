/**
 * Publishes and plays kept by the bridge itself rather than by a worker link (`resource: true` in
 * the protocol): WHIP and WHEP sessions, whose POST, PATCHes and DELETE arrive as separate HTTP
 * requests over separate short links. They all belong to one internal Owner that never closes, so
 * no link's closing releases them; any authenticated link may act on them by id (the ids are
 * 96-bit random, the WHIP/WHEP resource URL is the capability). Their events go nowhere: they only
 * keep this registry current. They end like anything else: unpublish/stop, hangup, ICE failure, no
 * media, node down, and a play whose WebRTC is not up within `startTimeoutMs` (nobody else would
 * notice a WHEP client that never connected).
 *
 * It also remembers each session's ICE username fragment, so a trickle carrying another one (an
 * ICE restart, which Fanout does not do) is refused before Janus sees it.
 */
import { CdnError, Errors, type BridgeEvent, type Logger, type Params, type Result } from '../../protocol/index.ts';
import type { MediaService, Owner } from './index.ts';

/** What resources ask of the media layer. */
export type ResourceMedia = Pick<MediaService, 'publish' | 'unpublish' | 'play' | 'stop' | 'trickle'>;

/** The id of the owner of every resource (never a link's: links are "w<n>"). */
export const RESOURCE_OWNER_ID = 'resources';
/** A resource play whose WebRTC is not up within this is stopped. */
export const RESOURCE_START_TIMEOUT_MS = 30_000;

interface Entry {
  kind: 'publish' | 'play';
  stream: string;
  /** The client's ice-ufrag from its offer (undefined: the offer had none, nothing to compare). */
  ufrag: string | undefined;
  startTimer: NodeJS.Timeout | undefined;
}

export interface ResourcesOptions {
  media: ResourceMedia;
  log: Logger;
  startTimeoutMs?: number;
  /** Also told every event of a resource (the API's monitor, which times PUBLISHING and PLAYING). */
  onEvent?: (event: BridgeEvent) => void;
}

export class Resources {
  readonly owner: Owner;
  readonly #media: ResourceMedia;
  readonly #log: Logger;
  readonly #startTimeoutMs: number;
  readonly #onEvent: ((event: BridgeEvent) => void) | undefined;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: ResourcesOptions) {
    this.#media = opts.media;
    this.#log = opts.log.child({ owner: RESOURCE_OWNER_ID });
    this.#startTimeoutMs = opts.startTimeoutMs ?? RESOURCE_START_TIMEOUT_MS;
    this.#onEvent = opts.onEvent;
    this.owner = { id: RESOURCE_OWNER_ID, send: (event) => this.#received(event) };
  }

  /** How many resources are live (for tests and health). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The entry is made before the media layer is asked (the id is the requester's), so a DELETE that
   * comes while the publish runs finds it; a publish that fails forgets it again.
   */
  async publish(params: Params<'publish'>): Promise<Result<'publish'>> {
    const entry = this.#add(params.publishId, { kind: 'publish', stream: params.stream, ufrag: iceUfrag(params.sdp), startTimer: undefined });
    try {
      const result = await this.#media.publish(this.owner, params);
      this.#log.info('resource publish created', { stream: params.stream, publishId: params.publishId });
      return result;
    } catch (err) {
      this.#forget(params.publishId, entry);
      throw err;
    }
  }

  async play(params: Params<'play'>): Promise<Result<'play'>> {
    const playId = params.playId;
    const entry = this.#add(playId, { kind: 'play', stream: params.stream, ufrag: params.sdp === undefined ? undefined : iceUfrag(params.sdp), startTimer: undefined });
    let result: Result<'play'>;
    try {
      result = await this.#media.play(this.owner, params);
    } catch (err) {
      this.#forget(playId, entry);
      throw err;
    }
    if (this.#entries.get(playId) === entry) {
      entry.startTimer = setTimeout(() => {
        entry.startTimer = undefined;
        this.#log.info('resource play never started; stopping it', { stream: params.stream, playId, ms: this.#startTimeoutMs });
        this.stop({ playId }).catch(() => undefined);
      }, this.#startTimeoutMs);
      entry.startTimer.unref();
    }
    this.#log.info('resource play created', { stream: params.stream, node: params.node, playId });
    return result;
  }

  async unpublish(params: Params<'unpublish'>): Promise<Result<'unpublish'>> {
    this.#require(params.publishId, 'publish');
    try {
      return await this.#media.unpublish(this.owner, params);
    } finally {
      this.#forget(params.publishId);
    }
  }

  async stop(params: Params<'stop'>): Promise<Result<'stop'>> {
    this.#require(params.playId, 'play');
    try {
      return await this.#media.stop(this.owner, params);
    } finally {
      this.#forget(params.playId);
    }
  }

  async trickle(params: Params<'trickle'>): Promise<Result<'trickle'>> {
    const entry = this.#require(params.id, undefined);
    if (params.ufrag !== undefined && entry.ufrag !== undefined && params.ufrag !== entry.ufrag) {
      throw new CdnError(
        'FAILED_PRECONDITION',
        `ufrag: "${params.ufrag}" is not this session's ICE username fragment: an ICE restart, which this server does not do`,
      );
    }
    try {
      return await this.#media.trickle(this.owner, params);
    } catch (err) {
      if (err instanceof CdnError && err.code === 'NOT_FOUND') this.#forget(params.id);
      throw err;
    }
  }

  /** The client's ice-ufrag of a resource, for the media layer's journal. */
  ufragOf(id: string): string | undefined {
    return this.#entries.get(id)?.ufrag;
  }

  /**
   * A resource an earlier bridge run made, taken back by the media layer after a restart: kept
   * again, so its URL's PATCH and DELETE work.
   */
  adopt(kind: Entry['kind'], id: string, stream: string, ufrag: string | undefined): void {
    if (this.#entries.has(id)) return;
    this.#entries.set(id, { kind, stream, ufrag, startTimer: undefined });
    this.#log.info('resource taken back after a restart', { kind, stream, id });
  }

  /** Clears the timers (the media layer's close ends the sessions themselves). Safe to call twice. */
  close(): void {
    for (const e of this.#entries.values()) clearTimeout(e.startTimer);
    this.#entries.clear();
  }

  #require(id: string, kind: Entry['kind'] | undefined): Entry {
    const entry = this.#entries.get(id);
    if (entry === undefined || (kind !== undefined && entry.kind !== kind)) {
      const what = kind === 'publish' ? 'publishId' : kind === 'play' ? 'playId' : 'publishId or playId';
      throw new CdnError('NOT_FOUND', `unknown resource ${what} "${id}" (it ended, or never existed)`);
    }
    return entry;
  }

  /** Registers a new entry; an id already kept here is ALREADY_EXISTS (the media layer would say so too). */
  #add(id: string, entry: Entry): Entry {
    if (this.#entries.has(id)) throw Errors.idInUse(id);
    this.#entries.set(id, entry);
    return entry;
  }

  /** Forgets `id` (only if it is still `expected`, when given: a newer entry under the id stays). */
  #forget(id: string, expected?: Entry): void {
    const entry = this.#entries.get(id);
    if (entry === undefined || (expected !== undefined && entry !== expected)) return;
    clearTimeout(entry.startTimer);
    this.#entries.delete(id);
  }

  /** Events to resources reach no client: they keep the registry current (and tell `onEvent`). */
  #received(event: BridgeEvent): void {
    try {
      this.#onEvent?.(event);
    } catch (err) {
      this.#log.warn('resource event listener threw', { err });
    }
    if (event.event === 'publisher' && event.status !== 'PUBLISHING') {
      if (this.#entries.has(event.publishId)) this.#log.info('resource publish ended', { stream: event.stream, publishId: event.publishId, status: event.status, info: event.info });
      this.#forget(event.publishId);
    } else if (event.event === 'player') {
      const entry = this.#entries.get(event.playId);
      if (entry === undefined) return;
      if (event.status === 'PLAYING') {
        clearTimeout(entry.startTimer);
        entry.startTimer = undefined;
        return;
      }
      this.#log.info('resource play ended', { stream: entry.stream, playId: event.playId, status: event.status, info: event.info });
      this.#forget(event.playId);
    }
  }
}

/** The ICE username fragment of an SDP (session level, else its first m-section's). */
export function iceUfrag(sdp: string): string | undefined {
  const m = /^a=ice-ufrag:(\S+)\s*$/m.exec(sdp);
  return m?.[1];
}
