/**
 * One Janus plugin request through a Janode handle: a timeout, Janode's errors turned into
 * CdnErrors, and the reply's plugin data (and JSEP) validated with valibot, so nothing Janus sends
 * enters the bridge unchecked. Shared by the VideoRoom and Streaming request modules.
 */
import * as v from 'valibot';
import type { Jsep } from 'janode';
import { CdnError, issueText } from '../../protocol/errors.ts';
import { janusTimeout, toCdnError } from './errors.ts';

/** The part of a Janode handle the bridge uses (a JanodeHandle satisfies it). */
export interface JanusHandle {
  readonly id: number;
  message(body: Record<string, unknown>, jsep?: Jsep): Promise<unknown>;
  detach(): Promise<void>;
  on(event: string, listener: (data: unknown) => void): unknown;
  off(event: string, listener: (data: unknown) => void): unknown;
}

/** Per-request settings. */
export interface RequestOptions {
  /** How long to wait for Janus's reply. */
  timeoutMs: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** Janus ids: positive integers that are safe in JavaScript (Janus generates 53-bit ones). */
export const JanusId = v.pipe(v.number(), v.safeInteger(), v.minValue(1));
export const Port = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535));

const JsepSchema = v.object({ type: v.picklist(['offer', 'answer']), sdp: v.string() });

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(janusTimeout(what, ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Sends one plugin request and validates the reply's plugin data (and JSEP, when there is one). */
export async function request<S extends v.GenericSchema>(
  h: JanusHandle,
  what: string,
  body: Record<string, unknown>,
  schema: S,
  opts: RequestOptions,
  jsep?: Jsep,
): Promise<{ data: v.InferOutput<S>; jsep: Jsep | undefined }> {
  let reply: unknown;
  try {
    reply = await withTimeout(h.message(body, jsep), opts.timeoutMs, what);
  } catch (err) {
    throw toCdnError(err, what);
  }
  const parsed = v.safeParse(v.object({ plugindata: v.object({ data: schema }), jsep: v.optional(JsepSchema) }), reply);
  if (!parsed.success) {
    throw new CdnError('INTERNAL', `${what}: unexpected reply from Janus (${issueText(parsed.issues[0], 'invalid')})`);
  }
  return { data: parsed.output.plugindata.data, jsep: parsed.output.jsep };
}

export function requireJsep(jsep: Jsep | undefined, type: Jsep['type'], what: string): string {
  if (jsep === undefined || jsep.type !== type) throw new CdnError('INTERNAL', `${what}: Janus sent no ${type}`);
  return jsep.sdp;
}
