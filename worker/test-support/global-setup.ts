/**
 * vitest globalSetup for the workerd suite: starts the scripted bridge stand-in on 127.0.0.1 and
 * hands its URL to the pool (the worker's BRIDGE_URL binding) and to the tests.
 */
/// <reference path="./provided-context.d.ts" />
import type { TestProject } from 'vitest/node';
import { startStandIn } from './bridge-stand-in.ts';

/** The secret the stand-in and the worker under test share (a test value, not a real secret). */
export const TEST_BRIDGE_SECRET = 'test-secret-for-the-stand-in-0123';

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const bridge = await startStandIn({ secret: TEST_BRIDGE_SECRET });
  project.provide('bridgeUrl', bridge.baseUrl);
  project.provide('bridgeSecret', TEST_BRIDGE_SECRET);
  return () => bridge.close();
}
