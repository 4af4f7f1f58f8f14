/**
 * SDP for players that send the offer (the Flashphoner WebSDK, WHEP clients) while Janus 1.1.2 only
 * offers to viewers: read and check the player's offer, plan which of its m-lines receives which
 * track at which of its payload types (the mountpoint is made with those numbers), and join Janus's
 * offer to the player's with two answers. Pure and runtime-free (sdp-transform only), so it is
 * unit-tested on real SDPs captured from Chromium and Janus (test/fixtures/sdp).
 */
import { readDescription, type Description } from './description.ts';

export { reconcile, type Answers } from './answer.ts';
export { DEFAULT_H264_PROFILE, type SourceTrack } from './codecs.ts';
export { MAX_MEDIA_SECTIONS, type Description } from './description.ts';
export { mountProfile, planPlayback, profileKey, watchedMids, type MountTrack, type Pair, type PlaybackPlan } from './plan.ts';

/** Reads a player's offer; throws INVALID_ARGUMENT ("sdp: ...") when it is no usable description. */
export function readOffer(sdp: string): Description {
  return readDescription(sdp, 'the offer');
}
