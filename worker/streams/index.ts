/**
 * Per-stream coordination: each stream name's record (a Durable Object of its own) and the
 * publish lock the worker takes through it when the topology has several origins. With one
 * origin, that origin's agent refuses a name in use by itself and no record is asked.
 */
import { CdnError, type Logger, type NodeInfo } from '../../protocol/index.ts';
import { countDoRequest } from '../do-requests.ts';
import type { Env } from '../env.ts';
import type { StreamRecord } from './durable-object.ts';

export { StreamRecord, type ClaimAnswer } from './durable-object.ts';
export { SETTLE_MS, claim, release, type Holder, type Liveness, type StreamState } from './lock.ts';

/** The record of `stream` (its own object, named by the stream). */
export function streamRecordFor(env: Env, stream: string): DurableObjectStub<StreamRecord> {
  return env.STREAM_RECORDS.get(env.STREAM_RECORDS.idFromName(stream));
}

/** The origins of a node list, by id. */
export function originsOf(nodes: readonly NodeInfo[]): string[] {
  return nodes.filter((n) => n.role === 'origin').map((n) => n.id);
}

/**
 * Takes `stream` for `publishId` on origin `node` when `origins` has more than one origin; true when
 * the record was asked (then `releaseStream` frees it), false when it need not be.
 */
export async function claimStream(env: Env, origins: readonly string[], stream: string, node: string, publishId: string): Promise<boolean> {
  if (origins.length <= 1) return false;
  countDoRequest('stream-record');
  const answer = await streamRecordFor(env, stream).claim(stream, node, publishId, origins.filter((o) => o !== node));
  if (!answer.ok) throw new CdnError(answer.code, answer.message);
  return true;
}

/** Frees `stream` if `publishId` holds it. Never throws; `waitUntil` keeps it alive past the request. */
export function releaseStream(env: Env, stream: string, publishId: string, log: Logger, waitUntil?: (p: Promise<unknown>) => void): void {
  countDoRequest('stream-record');
  const done = streamRecordFor(env, stream)
    .release(publishId)
    .catch((err: unknown) => log.warn('the stream record could not be released', { stream, publishId, err }));
  waitUntil?.(done);
}
