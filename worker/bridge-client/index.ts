/** The worker's link to the bridge API: a runtime-free client and the workerd connector. */
export { BridgeClient, LINK_LOST_CLOSE_CODE, type BridgeClientOptions, type BridgeTransport } from './client.ts';
export { BRIDGE_CONNECT_TIMEOUT_MS, MISSING_SECRET_MESSAGE, connectBridge, type ConnectOptions } from './connect.ts';
