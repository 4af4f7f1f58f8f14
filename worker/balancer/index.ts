/** The origin's load balancer: pure policies, the merge of every agent's view, and the Durable Object that shares their state. */
export { BALANCING_POLICIES, healthyEdges, healthyOrigins, noEdgeReason, pickEdge, pickOrigin, pinnedEdge, pinnedOrigin, type BalancingPolicy, type PickInput, type PickResult, type PinResult } from './policy.ts';
export {
  Balancer,
  RETRY_AFTER_FAILURE_MS,
  balancerFor,
  balancerName,
  type BridgeView,
  type NodesSnapshot,
} from './durable-object.ts';
export { downReason, mergeNodes, mergeStreams, type AgentOutcome } from './merge.ts';
export { bridgeView, VIEW_WAIT_MS } from './view.ts';
export { chooseEdge, chooseOrigin, DOWN_REFRESH_MS, placeOrigin, type OriginPlace, freshNodeTable, nodeTable, TABLE_MAX_AGE_MS, TABLE_REFRESH_MS, type EdgeChoice } from './node-table.ts';
