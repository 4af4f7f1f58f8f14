/**
 * Fanout's worker entry: the Hono app (WCS WebSocket API, node addressing, origin redirect,
 * health, static pages) and the Balancer Durable Object class.
 */
import { app } from './app.ts';
import type { Env } from './env.ts';

export { Balancer } from './balancer/index.ts';
export { Coordinator } from './coordinator/index.ts';

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
