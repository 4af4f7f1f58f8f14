/**
 * A stand-in for the browser's media (getUserMedia, RTCPeerConnection) so the publish path runs in
 * Node against scripted servers: what the signalling needs (an offer per peer connection, ICE
 * already gathered, the answer taken) and a record of it. Media itself is tested in Chromium
 * (test/integration/).
 */
import type { MediaEnvironment } from '../media.ts';

/** A captured track: its kind, and whether the SDK stopped it (released the camera). */
export class FakeTrack {
  readyState: 'live' | 'ended' = 'live';
  constructor(readonly kind: 'audio' | 'video') {}
  stop(): void {
    this.readyState = 'ended';
  }
}

/** The peer connection's surface the SDK uses. */
export class FakePeerConnection {
  static #made = 0;
  /** This connection's offer, unique per connection: a test tells a re-sent offer from a new one. */
  readonly offer = `v=0\r\no=- ${++FakePeerConnection.#made} 1 IN IP4 127.0.0.1\r\ns=fake\r\n`;
  readonly senders: FakeTrack[] = [];
  readonly iceGatheringState = 'complete';
  signalingState: RTCSignalingState = 'stable';
  connectionState: RTCPeerConnectionState = 'new';
  localDescription: RTCSessionDescriptionInit | null = null;
  remoteDescription: RTCSessionDescriptionInit | null = null;

  addTransceiver(track: FakeTrack): { setCodecPreferences(): void } {
    this.senders.push(track);
    return { setCodecPreferences: () => undefined };
  }

  async createOffer(): Promise<RTCSessionDescriptionInit> {
    return { type: 'offer', sdp: this.offer };
  }

  async setLocalDescription(d: RTCSessionDescriptionInit): Promise<void> {
    this.localDescription = d;
    this.signalingState = 'have-local-offer';
  }

  async setRemoteDescription(d: RTCSessionDescriptionInit): Promise<void> {
    this.remoteDescription = d;
    this.signalingState = 'stable';
  }

  async getStats(): Promise<Map<string, unknown>> {
    return new Map();
  }

  addEventListener(): void {}
  removeEventListener(): void {}

  close(): void {
    this.signalingState = 'closed';
    this.connectionState = 'closed';
  }
}

/** The media environment, and what the SDK did with it. */
export interface FakeMedia {
  media: MediaEnvironment;
  /** getUserMedia calls. */
  captures: number;
  /** Every track captured. */
  tracks: FakeTrack[];
  /** Every peer connection made, in order. */
  pcs: FakePeerConnection[];
}

export function fakeMedia(): FakeMedia {
  const fake: FakeMedia = {
    captures: 0,
    tracks: [],
    pcs: [],
    media: {
      getUserMedia: async () => {
        fake.captures++;
        const tracks = [new FakeTrack('audio'), new FakeTrack('video')];
        fake.tracks.push(...tracks);
        const stream = {
          getTracks: () => tracks,
          getAudioTracks: () => tracks.filter((t) => t.kind === 'audio'),
          getVideoTracks: () => tracks.filter((t) => t.kind === 'video'),
        };
        // @ts-expect-error Node has no MediaStream: the fake has the members the SDK calls.
        const captured: MediaStream = stream;
        return captured;
      },
      createPeerConnection: () => {
        const pc = new FakePeerConnection();
        fake.pcs.push(pc);
        // @ts-expect-error Node has no RTCPeerConnection: the fake has the members the SDK calls.
        const made: RTCPeerConnection = pc;
        return made;
      },
      videoCapabilities: () => undefined,
    },
  };
  return fake;
}
