/**
 * The sweep of a node that comes (back) up: Fanout rooms and mountpoints on it that no current
 * stream uses, left by an earlier bridge run or by this one before the node's connection dropped,
 * found by their "fanout:" description and removed. Remote publishers have no session, so they
 * outlive whoever created them: they are removed explicitly before their room. Mountpoints go
 * first (their forwarders go with their rooms).
 */
import { errorText } from '../../protocol/index.ts';
import { isBenignTeardownError, toCdnError } from '../janus/errors.ts';
import * as st from '../janus/streaming.ts';
import * as vr from '../janus/videoroom.ts';
import { reachable, type MediaContext, type MediaNode } from './context.ts';
import { ROOM_PREFIX } from './plan.ts';

/** What the registry says is in use on a node (asked again before each removal: streams come and go meanwhile). */
export interface InUse {
  room(node: MediaNode, room: number): boolean;
  mountpoints(node: MediaNode): ReadonlySet<number>;
}

/** Removes what no current stream uses on `node`; stops when the node goes down or reconnects meanwhile. Never throws. */
export async function sweep(ctx: MediaContext, node: MediaNode, inUse: InUse): Promise<void> {
  const generation = node.generation;
  await sweepMountpoints(ctx, node, inUse);
  let rooms: vr.RoomInfo[];
  try {
    rooms = await vr.listRooms(node.control, ctx.adminKey, ctx.rq);
  } catch (err) {
    ctx.log.warn('cannot list rooms to sweep', { node: node.id, err: toCdnError(err, 'list rooms') });
    return;
  }
  let swept = 0;
  for (const r of rooms) {
    if (!r.description.startsWith(ROOM_PREFIX) || inUse.room(node, r.room)) continue;
    if (!reachable(node, generation)) return;
    try {
      const participants = await vr.listParticipants(node.control, r.room, ctx.rq);
      for (const p of participants) {
        if (p.remote) await ctx.quietly(vr.removeRemotePublisher(node.control, { room: r.room, id: p.id }, ctx.rq), 'sweep remote publisher');
      }
    } catch (err) {
      if (!isBenignTeardownError(err)) ctx.log.warn('sweep: cannot list participants', { node: node.id, room: r.room, err: errorText(err) });
    }
    if (inUse.room(node, r.room)) continue;
    await ctx.quietly(vr.destroyRoom(node.control, r.room, ctx.adminKey, ctx.rq), 'sweep room');
    swept++;
  }
  if (swept > 0) ctx.log.info('removed rooms no stream uses', { node: node.id, rooms: swept });
}

async function sweepMountpoints(ctx: MediaContext, node: MediaNode, inUse: InUse): Promise<void> {
  let mountpoints: st.MountpointInfo[];
  try {
    mountpoints = await st.listMountpoints(node.streamingControl, ctx.adminKey, ctx.rq);
  } catch (err) {
    ctx.log.warn('cannot list mountpoints to sweep', { node: node.id, err: toCdnError(err, 'list mountpoints') });
    return;
  }
  const used = inUse.mountpoints(node);
  let swept = 0;
  for (const mp of mountpoints) {
    if (!mp.description.startsWith(ROOM_PREFIX) || used.has(mp.id)) continue;
    await ctx.quietly(st.destroyMountpoint(node.streamingControl, mp.id, ctx.adminKey, ctx.rq), 'sweep mountpoint');
    swept++;
  }
  if (swept > 0) ctx.log.info('removed mountpoints no stream uses', { node: node.id, mountpoints: swept });
}
