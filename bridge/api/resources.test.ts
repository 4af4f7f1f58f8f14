/**
 * The bridge's resources (WHIP/WHEP sessions): owned by no link, acted on by id, their ICE ufrag
 * checked on trickle, their registry kept current by their events, and plays that never start
 * stopped. Against a scripted media service.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CdnError, newMediaId, silentLogger, type Params, type Result } from '../../protocol/index.ts';
import type { Owner } from './index.ts';
import { RESOURCE_OWNER_ID, Resources, iceUfrag, type ResourceMedia } from './resources.ts';

const OFFER = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:secretsecretsecretsecret\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n';

class ScriptedMedia implements ResourceMedia {
  readonly calls: string[] = [];
  readonly owners = new Map<string, Owner>();
  readonly live = new Set<string>();
  /** When set, a publish waits for it (a publish still running), then fails if it was unpublished meanwhile. */
  gate: Promise<void> | undefined;

  async publish(owner: Owner, p: Params<'publish'>): Promise<Result<'publish'>> {
    this.calls.push(`publish ${p.stream} by ${owner.id}`);
    this.owners.set(p.publishId, owner);
    this.live.add(p.publishId);
    await this.gate;
    if (!this.live.has(p.publishId)) throw new CdnError('FAILED_PRECONDITION', `publish "${p.publishId}" was ended before it started`);
    if (p.stream.startsWith('refused')) throw new CdnError('INVALID_ARGUMENT', 'sdp: refused');
    return { sdp: OFFER };
  }
  unpublish(owner: Owner, p: Params<'unpublish'>): Promise<Result<'unpublish'>> {
    this.calls.push(`unpublish ${p.publishId} by ${owner.id}`);
    if (!this.live.delete(p.publishId)) return Promise.reject(new CdnError('NOT_FOUND', 'gone'));
    return Promise.resolve({});
  }
  play(owner: Owner, p: Params<'play'>): Promise<Result<'play'>> {
    this.calls.push(`play ${p.stream} on ${p.node} by ${owner.id}`);
    this.owners.set(p.playId, owner);
    this.live.add(p.playId);
    return Promise.resolve({ sdp: OFFER, type: 'answer' });
  }
  adopting(): undefined {
    return undefined;
  }
  bind(): Promise<Result<'bind'>> {
    return Promise.resolve({ bound: [], gone: [] });
  }
  answer(): Promise<Result<'answer'>> {
    return Promise.reject(new Error('not used'));
  }
  stop(owner: Owner, p: Params<'stop'>): Promise<Result<'stop'>> {
    this.calls.push(`stop ${p.playId} by ${owner.id}`);
    if (!this.live.delete(p.playId)) return Promise.reject(new CdnError('NOT_FOUND', 'gone'));
    return Promise.resolve({});
  }
  trickle(owner: Owner, p: Params<'trickle'>): Promise<Result<'trickle'>> {
    this.calls.push(`trickle ${p.id} ${p.candidates.length}${p.ended === true ? ' ended' : ''} by ${owner.id}`);
    if (!this.live.has(p.id)) return Promise.reject(new CdnError('NOT_FOUND', 'gone'));
    return Promise.resolve({});
  }
  release(): Promise<void> {
    return Promise.resolve();
  }
}

const CANDIDATE = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.2 50000 typ host', sdpMid: '0' };
let resources: Resources | undefined;

function setup(startTimeoutMs = 30_000): { media: ScriptedMedia; res: Resources } {
  const media = new ScriptedMedia();
  resources = new Resources({ media, log: silentLogger, startTimeoutMs });
  return { media, res: resources };
}

afterEach(() => resources?.close());

describe('Resources', () => {
  it('publish creates a session owned by the resource owner, and unpublish by id ends it', async () => {
    const { media, res } = setup();
    const publishId = newMediaId('pub');
    await res.publish({ publishId, node: 'origin', stream: 's1', sdp: OFFER, resource: true });
    expect(media.calls).toEqual([`publish s1 by ${RESOURCE_OWNER_ID}`]);
    expect(res.size).toBe(1);
    await res.unpublish({ publishId, resource: true });
    expect(media.calls[1]).toBe(`unpublish ${publishId} by ${RESOURCE_OWNER_ID}`);
    expect(res.size).toBe(0);
  });

  it('unpublish of an unknown id, or of a play id, is NOT_FOUND without reaching the media layer', async () => {
    const { media, res } = setup();
    const playId = newMediaId('play');
    await res.play({ playId, node: 'edge-1', stream: 's', sdp: OFFER, resource: true });
    await expect(res.unpublish({ publishId: 'pub_nope' })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('unknown resource publishId "pub_nope"') });
    await expect(res.unpublish({ publishId: playId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(media.calls).toHaveLength(1);
  });

  it('trickle with the session ufrag reaches the media layer; another ufrag is FAILED_PRECONDITION (an ICE restart)', async () => {
    const { media, res } = setup();
    const publishId = newMediaId('pub');
    await res.publish({ publishId, node: 'origin', stream: 's', sdp: OFFER });
    await res.trickle({ id: publishId, candidates: [CANDIDATE], ufrag: 'abcd' });
    await res.trickle({ id: publishId, candidates: [], ended: true });
    await expect(res.trickle({ id: publishId, candidates: [CANDIDATE], ufrag: 'wxyz' })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('ICE restart') });
    expect(media.calls.slice(1)).toEqual([`trickle ${publishId} 1 by resources`, `trickle ${publishId} 0 ended by resources`]);
  });

  it('an ending event forgets the session, so later requests are NOT_FOUND', async () => {
    const { res } = setup();
    const publishId = newMediaId('pub');
    await res.publish({ publishId, node: 'origin', stream: 's', sdp: OFFER });
    res.owner.send({ event: 'publisher', publishId, stream: 's', status: 'PUBLISHING' });
    expect(res.size).toBe(1);
    res.owner.send({ event: 'publisher', publishId, stream: 's', status: 'FAILED', info: 'ICE failed' });
    expect(res.size).toBe(0);
    await expect(res.trickle({ id: publishId, candidates: [CANDIDATE] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a play that never reports PLAYING is stopped after the start timeout; one that does is kept', async () => {
    const { media, res } = setup(50);
    const idle = { playId: newMediaId('play') };
    const playing = { playId: newMediaId('play') };
    await res.play({ ...idle, node: 'edge-1', stream: 's', sdp: OFFER });
    await res.play({ ...playing, node: 'edge-1', stream: 's', sdp: OFFER });
    res.owner.send({ event: 'player', playId: playing.playId, stream: 's', status: 'PLAYING' });
    await new Promise((r) => setTimeout(r, 120));
    expect(media.calls).toContain(`stop ${idle.playId} by resources`);
    expect(media.calls).not.toContain(`stop ${playing.playId} by resources`);
    expect(res.size).toBe(1);
  });

  it('every resource event also reaches onEvent (the monitor), and a throwing listener changes nothing', async () => {
    const media = new ScriptedMedia();
    const seen: string[] = [];
    resources = new Resources({ media, log: silentLogger, onEvent: (e) => seen.push(e.event === 'publisher' ? e.status : e.event) });
    const publishId = newMediaId('pub');
    await resources.publish({ publishId, node: 'origin', stream: 's', sdp: OFFER });
    resources.owner.send({ event: 'publisher', publishId, stream: 's', status: 'PUBLISHING' });
    expect(seen).toEqual(['PUBLISHING']);
    const throwing = new Resources({ media, log: silentLogger, onEvent: () => { throw new Error('boom'); } });
    const other = { publishId: newMediaId('pub') };
    await throwing.publish({ ...other, node: 'origin', stream: 't', sdp: OFFER });
    throwing.owner.send({ event: 'publisher', publishId: other.publishId, stream: 't', status: 'UNPUBLISHED' });
    expect(throwing.size).toBe(0);
    throwing.close();
  });

  it('a trickle the media layer no longer knows forgets the session', async () => {
    const { media, res } = setup();
    const playId = newMediaId('play');
    await res.play({ playId, node: 'edge-1', stream: 's', sdp: OFFER });
    media.live.delete(playId);
    await expect(res.trickle({ id: playId, candidates: [CANDIDATE] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(res.size).toBe(0);
  });
});

describe('Resources ids', () => {
  it('a publish or play whose id is already kept is ALREADY_EXISTS without reaching the media layer', async () => {
    const { media, res } = setup();
    const publishId = newMediaId('pub');
    await res.publish({ publishId, node: 'origin', stream: 's', sdp: OFFER });
    await expect(res.publish({ publishId, node: 'origin', stream: 't', sdp: OFFER })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(res.play({ playId: publishId, node: 'edge-1', stream: 's', sdp: OFFER })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(media.calls).toEqual(['publish s by resources']);
    expect(res.size).toBe(1);
  });

  it('an unpublish (a WHIP DELETE) while the publish still runs reaches the media layer, and the failed publish leaves no session', async () => {
    const { media, res } = setup();
    let release!: () => void;
    media.gate = new Promise<void>((r) => (release = r));
    const publishId = newMediaId('pub');
    const publishing = res.publish({ publishId, node: 'origin', stream: 's', sdp: OFFER });
    const refused = expect(publishing).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await Promise.resolve();
    await expect(res.unpublish({ publishId })).resolves.toEqual({});
    release();
    await refused;
    expect(res.size).toBe(0);
    expect(media.calls).toEqual(['publish s by resources', `unpublish ${publishId} by resources`]);
  });

  it('a publish the media layer refuses leaves no session, and its id can be used again', async () => {
    const { res } = setup();
    const publishId = newMediaId('pub');
    await expect(res.publish({ publishId, node: 'origin', stream: 'refused', sdp: OFFER })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(res.size).toBe(0);
    await expect(res.publish({ publishId, node: 'origin', stream: 's', sdp: OFFER })).resolves.toEqual({ sdp: OFFER });
  });
});

describe('iceUfrag', () => {
  it('reads the session-level ufrag, else the first m-section one, else undefined', () => {
    expect(iceUfrag(OFFER)).toBe('abcd');
    expect(iceUfrag('v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:m1\r\nm=video 9 x 96\r\na=ice-ufrag:m2\r\n')).toBe('m1');
    expect(iceUfrag('v=0\r\ns=-\r\n')).toBeUndefined();
  });
});
