/**
 * A child process of the fan-out benchmark holding werift subscribers on an edge, so the
 * subscribers' own CPU (about 100 us per packet in Node) is spread over processes and kept out of
 * the process that measures. Driven over Node IPC by bench/phases/fanout.ts:
 *
 *   { op: 'add', n, node, stream }  -> { op: 'added', ok, errors }   (each subscriber got a keyframe)
 *   { op: 'mark' }                  -> { op: 'marked' }              (starts a loss window)
 *   { op: 'report' }                -> { op: 'report', expected, lost, subscribers, cpuSeconds }
 *   { op: 'close' }                 -> { op: 'closed' }, then exit
 *
 * Loss is counted from RTP sequence numbers per stream (highest - first + 1 - received, as RTCP
 * receiver reports do), so it does not depend on when parent and child take their snapshots.
 * The parent kills this process if it stops answering.
 */
import * as v from 'valibot';
import { errorText, newMediaId } from '../../protocol/index.ts';
import { BridgeClient } from '../../test/harness/bridge-client.ts';
import { WeriftSubscriber } from '../../test/harness/werift-peer.ts';

const Command = v.variant('op', [
  v.object({ op: v.literal('add'), n: v.number(), node: v.string(), stream: v.string() }),
  v.object({ op: v.literal('mark') }),
  v.object({ op: v.literal('report') }),
  v.object({ op: v.literal('close') }),
]);

/** Sequence-number accounting of one RTP stream over the current window. */
class Window {
  #cycles = 0;
  #last: number | undefined;
  #first: number | undefined;
  #max = 0;
  received = 0;

  packet(seq: number): void {
    if (this.#last !== undefined && seq < this.#last && this.#last - seq > 30000) this.#cycles++;
    this.#last = seq;
    const ext = this.#cycles * 65536 + seq;
    this.#first ??= ext;
    if (ext > this.#max) this.#max = ext;
    this.received++;
  }

  get expected(): number {
    return this.#first === undefined ? 0 : this.#max - this.#first + 1;
  }

  reset(): void {
    this.#first = undefined;
    this.#max = 0;
    this.received = 0;
  }
}

const env = (k: string): string => {
  const x = process.env[k];
  if (x === undefined || x === '') throw new Error(`${k} is not set`);
  return x;
};

const bc = await BridgeClient.connect(env('FANOUT_BENCH_BRIDGE_URL'), env('FANOUT_BENCH_BRIDGE_SECRET'));
const subs: Array<{ sub: WeriftSubscriber; windows: Window[] }> = [];
let cpuMark = process.cpuUsage();

const send = (msg: Record<string, unknown>): void => {
  process.send?.(msg);
};

async function addOne(node: string, stream: string): Promise<void> {
  const sub = new WeriftSubscriber();
  const windows: Window[] = [];
  subs.push({ sub, windows });
  sub.pc.onTrack.subscribe((track) => {
    const w = new Window();
    windows.push(w);
    track.onReceiveRtp.subscribe((rtp) => w.packet(rtp.header.sequenceNumber));
  });
  // The requester names what it creates (protocol/api.ts): the play's id is ours.
  const playId = newMediaId('play');
  const play = await bc.request('play', { playId, node, stream });
  await bc.request('answer', { playId, sdp: await sub.answer(play.sdp) });
  await sub.media({ audio: true, video: true, keyframe: true, timeoutMs: 20_000 });
}

async function add(n: number, node: string, stream: string): Promise<void> {
  const errors: string[] = [];
  let ok = 0;
  // A few at a time: every join sends Janus a keyframe request and werift a DTLS handshake.
  for (let i = 0; i < n; i += 5) {
    const batch = Array.from({ length: Math.min(5, n - i) }, () => addOne(node, stream));
    for (const r of await Promise.allSettled(batch)) {
      if (r.status === 'fulfilled') ok++;
      else errors.push(errorText(r.reason));
    }
  }
  send({ op: 'added', ok, errors: errors.slice(0, 5) });
}

process.on('message', (raw) => {
  const parsed = v.safeParse(Command, raw);
  if (!parsed.success) return;
  const cmd = parsed.output;
  switch (cmd.op) {
    case 'add':
      void add(cmd.n, cmd.node, cmd.stream);
      break;
    case 'mark':
      for (const s of subs) for (const w of s.windows) w.reset();
      cpuMark = process.cpuUsage();
      send({ op: 'marked' });
      break;
    case 'report': {
      let expected = 0;
      let lost = 0;
      for (const s of subs) {
        for (const w of s.windows) {
          expected += w.expected;
          // Retransmissions can make received exceed expected; they do not make up for other losses.
          lost += Math.max(0, w.expected - w.received);
        }
      }
      const cpu = process.cpuUsage(cpuMark);
      send({ op: 'report', expected, lost, subscribers: subs.length, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
      break;
    }
    case 'close':
      void (async () => {
        await Promise.all(subs.map((s) => s.sub.close()));
        await bc.close().catch(() => undefined);
        send({ op: 'closed' });
        process.exit(0);
      })();
      break;
  }
});
process.on('disconnect', () => process.exit(0));
send({ op: 'ready' });
