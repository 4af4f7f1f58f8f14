/** Cross-node work when each Janus node has its own agent: the coordinator and its Durable Object. */
export { Coordinator as CoordinatorCore, type AgentLink, type CoordinatorDeps } from './coordinator.ts';
export { Coordinator, coordinatorFor, kickCoordinator, TICK_MS } from './durable-object.ts';
