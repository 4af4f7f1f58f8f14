/**
 * How many Durable Object requests this isolate has made, by why: the figure that says whether a
 * viewer's join costs any (`table-awaited` is the only kind a join can make, and only with a cold
 * or stale table). Served in /health under `isolate`, read by the benchmark and the tests.
 */
export const DO_REQUEST_KINDS = [
  /** A read of the node table a request waited for (a cold or too old table; /health; the dashboard). */
  'table-awaited',
  /** A read of the node table in the background, about once a second while requests come. */
  'table-background',
  /** A kick of the Coordinator (a publish on its way, /health). */
  'coordinator',
  /** A batch of counters from sessions that never had a link (once a second at most). */
  'counters',
  /** The dashboard's streams. */
  'streams',
  /** A publish's claim or release of its name in the stream's record (several origins only). */
  'stream-record',
] as const;
export type DoRequestKind = (typeof DO_REQUEST_KINDS)[number];

const counts: Record<DoRequestKind, number> = { 'table-awaited': 0, 'table-background': 0, coordinator: 0, counters: 0, streams: 0, 'stream-record': 0 };

export function countDoRequest(kind: DoRequestKind): void {
  counts[kind]++;
}

/** The counts so far (a copy). */
export function doRequests(): Record<DoRequestKind, number> {
  return { ...counts };
}
