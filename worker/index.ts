/**
 * Fanout's worker entry: the Hono app (WCS WebSocket API, node addressing, origin redirect,
 * health, static pages) and the Durable Object classes (Balancer, Coordinator, StreamRecord).
 */
import { app } from './app.ts';
import type { Env } from './env.ts';

export { Balancer } from './balancer/index.ts';
export { Coordinator } from './coordinator/index.ts';
export { StreamRecord } from './streams/index.ts';

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
