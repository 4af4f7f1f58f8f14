/**
 * The Coordinator Durable Object: the home of ./coordinator.ts while each Janus node has its own
 * agent (AGENT_URLS). One object for the CDN until coordination is sharded by stream. It keeps a
 * link to every agent and an alarm that ticks every TICK_MS, so once kicked (by a publish, or
 * /health) it goes on relaying by itself; its state is read back from the agents, so an eviction
 * or a restart loses nothing that matters. Media never waits on it: only new relays do.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Logger } from '../../protocol/index.ts';
import { connectBridge } from '../bridge-client/index.ts';
import { countDoRequest } from '../do-requests.ts';
import { readConfig, type Env } from '../env.ts';
import { createLogger } from '../log.ts';
import { Coordinator as Core } from './coordinator.ts';

/** How often the coordinator checks its links and relays what is missing. */
export const TICK_MS = 2_000;
/** After a lost link, the next tick comes this soon (the agent restarts within about a second). */
const SOON_MS = 250;

export class Coordinator extends DurableObject<Env> {
  readonly #log: Logger = createLogger({ unit: 'coordinator' });
  #core: Core | undefined;
  #soon: ReturnType<typeof setTimeout> | undefined;

  /** Starts coordinating (or goes on), and makes sure the alarm keeps it going. */
  async kick(): Promise<void> {
    const core = this.#ensure();
    if (core === undefined) return;
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + TICK_MS);
    await core.tick();
  }

  /**
   * Forgets everything (its alarm, its links, what it learnt), as an eviction would: an operator's
   * tool (POST /admin/reset). The next kick reads every agent back.
   */
  async reset(): Promise<void> {
    this.#core?.close();
    this.#core = undefined;
    if (this.#soon !== undefined) clearTimeout(this.#soon);
    this.#soon = undefined;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }

  override async alarm(): Promise<void> {
    const core = this.#ensure();
    if (core === undefined) return;
    try {
      await core.tick();
    } finally {
      await this.ctx.storage.setAlarm(Date.now() + TICK_MS);
    }
  }

  #ensure(): Core | undefined {
    if (this.#core !== undefined) return this.#core;
    const config = readConfig(this.env);
    if (Object.keys(config.agents.byNode).length === 0) return undefined;
    this.#core = new Core({
      agentUrls: config.agentUrls,
      open: (url, handlers) => connectBridge({ url, secret: config.bridgeSecret, agentNode: config.agentNodeOf(url), timeoutMs: config.bridgeRequestTimeoutMs, log: this.#log, ...handlers }),
      newForwardId: () => `fwd_${crypto.randomUUID().replaceAll('-', '')}`,
      log: this.#log,
      soon: () => {
        if (this.#soon !== undefined) return;
        this.#soon = setTimeout(() => {
          this.#soon = undefined;
          void this.#core?.tick();
        }, SOON_MS);
      },
    });
    return this.#core;
  }
}

/** The coordinator, when nodes have agents of their own; undefined with one bridge (it cascades by itself). */
export function coordinatorFor(env: Env): DurableObjectStub<Coordinator> | undefined {
  if (Object.keys(readConfig(env).agents.byNode).length === 0) return undefined;
  return env.COORDINATOR.get(env.COORDINATOR.idFromName('cdn'));
}

/**
 * Makes sure the coordinator runs (nodes with agents only): called where a stream may go live.
 * Never throws and never holds up the caller.
 */
export function kickCoordinator(env: Env, log: Logger, waitUntil?: (p: Promise<unknown>) => void): void {
  const stub = coordinatorFor(env);
  if (stub === undefined) return;
  countDoRequest('coordinator');
  const kicked = stub.kick().catch((err: unknown) => log.warn('the coordinator could not be kicked', { err }));
  waitUntil?.(kicked);
}
