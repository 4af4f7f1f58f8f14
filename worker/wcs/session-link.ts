/**
 * A WCS session's one bridge link: opened on demand (one handshake however many ask at once),
 * reopened after it is lost (by the session's relink, ./relink.ts, or its next request), and closed
 * with the session, with the release code, after which the bridge releases everything the link
 * owned. Events and the loss of a link reach the session only while that link is its current one.
 * Runtime-free.
 */
import { Errors, type BridgeEvent, type CdnError } from '../../protocol/index.ts';
import type { BridgeLink, SessionDeps } from './contract.ts';

export interface SessionLinkHandlers {
  onEvent(event: BridgeEvent): void;
  /** The current link is gone (not called for a close the session asked for). */
  onLost(reason: CdnError): void;
}

export class SessionLink {
  readonly #open: SessionDeps['openBridge'];
  readonly #handlers: SessionLinkHandlers;
  #link: BridgeLink | undefined;
  #opening: Promise<BridgeLink> | undefined;
  /** Bumped by every open and by close: a link from an older generation is not the session's. */
  #generation = 0;
  #closed = false;

  constructor(open: SessionDeps['openBridge'], handlers: SessionLinkHandlers) {
    this.#open = open;
    this.#handlers = handlers;
  }

  /** The open link, if there is one (no handshake is started). */
  get current(): BridgeLink | undefined {
    const link = this.#link;
    return link === undefined || link.closed ? undefined : link;
  }

  /** The open link, opening one if needed. */
  get(): Promise<BridgeLink> {
    if (this.#closed) return Promise.reject(Errors.closed('the session'));
    const link = this.current;
    if (link !== undefined) return Promise.resolve(link);
    if (this.#opening !== undefined) return this.#opening;
    const generation = ++this.#generation;
    const mine = (): boolean => generation === this.#generation && !this.#closed;
    const opening = this.#open({
      onEvent: (event) => {
        if (mine()) this.#handlers.onEvent(event);
      },
      onClose: (reason) => {
        if (!mine()) return;
        this.#link = undefined;
        this.#handlers.onLost(reason);
      },
    })
      .then((opened) => {
        if (!mine()) {
          opened.close('client session closed');
          throw Errors.closed('the session');
        }
        this.#link = opened;
        return opened;
      })
      .finally(() => {
        if (this.#opening === opening) this.#opening = undefined;
      });
    this.#opening = opening;
    return opening;
  }

  /** Closes the link for good (the session is over). Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#generation++;
    const link = this.#link;
    this.#link = undefined;
    link?.close('client session closed');
  }
}
