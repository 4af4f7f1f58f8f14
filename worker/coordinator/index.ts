/** Cross-node work when each Janus node has its own agent: the coordinator and its Durable Object. */
export { Coordinator, coordinatorFor, kickCoordinator } from './durable-object.ts';
