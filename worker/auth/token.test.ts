/**
 * The token format alone: signing and verifying with Web Crypto, key rotation, every way a token is
 * refused (form, signature, claims, expiry) and what a valid token permits.
 */
import { describe, expect, it } from 'vitest';
import { MAX_TOKEN_LENGTH, base64url, importKeys, permits, signToken, verifyToken, type TokenClaims } from './token.ts';

const KEY_A = 'a'.repeat(16) + 'key-one-for-tests-0123';
const KEY_B = 'b'.repeat(16) + 'key-two-for-tests-4567';
const KEY_C = 'c'.repeat(16) + 'key-three-not-configured';
const NOW = 1_800_000_000_000;
const inAnHour = NOW / 1000 + 3600;

const claims = (over: Partial<TokenClaims> = {}): TokenClaims => ({ v: 1, act: 'publish', stream: 'cam1', exp: inAnHour, ...over });

describe('verifyToken', () => {
  it('accepts a token it signed and returns its claims', async () => {
    const keys = await importKeys([KEY_A]);
    const token = await signToken(KEY_A, claims({ node: 'origin', iat: NOW / 1000 }));
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(await verifyToken(keys, token, NOW)).toEqual({ ok: true, claims: claims({ node: 'origin', iat: NOW / 1000 }) });
  });

  it('during a rotation accepts tokens signed by either configured key, and refuses a third key', async () => {
    const keys = await importKeys([KEY_A, KEY_B]);
    expect((await verifyToken(keys, await signToken(KEY_A, claims()), NOW)).ok).toBe(true);
    expect((await verifyToken(keys, await signToken(KEY_B, claims()), NOW)).ok).toBe(true);
    expect(await verifyToken(keys, await signToken(KEY_C, claims()), NOW)).toEqual({
      ok: false,
      denial: { code: 'UNAUTHENTICATED', reason: 'the token signature is not valid' },
    });
  });

  it('refuses an expired token (exp is in seconds, and exp itself is already too late)', async () => {
    const keys = await importKeys([KEY_A]);
    const token = await signToken(KEY_A, claims({ exp: NOW / 1000 }));
    expect(await verifyToken(keys, token, NOW)).toEqual({ ok: false, denial: { code: 'UNAUTHENTICATED', reason: 'the token has expired' } });
    expect((await verifyToken(keys, token, NOW - 1)).ok).toBe(true);
  });

  it('refuses claims changed after signing (another stream, a later expiry)', async () => {
    const keys = await importKeys([KEY_A]);
    const token = await signToken(KEY_A, claims());
    const sig = token.split('.')[1];
    for (const forged of [claims({ stream: 'other' }), claims({ exp: inAnHour + 10 }), claims({ act: ['publish', 'play'] })]) {
      const payload = base64url(new TextEncoder().encode(JSON.stringify(forged)));
      expect(await verifyToken(keys, `${payload}.${sig}`, NOW)).toEqual({ ok: false, denial: { code: 'UNAUTHENTICATED', reason: 'the token signature is not valid' } });
    }
  });

  it.each([
    ['no token', undefined, 'no token'],
    ['an empty token', '', 'no token'],
    ['one part', 'abc', 'the token is not <claims>.<signature> in base64url'],
    ['three parts (a JWT)', 'eyJhbGciOiJub25lIn0.eyJ2IjoxfQ.', 'the token is not <claims>.<signature> in base64url'],
    ['a short signature', 'eyJ2IjoxfQ.AAAA', 'the token is not <claims>.<signature> in base64url'],
    ['characters outside base64url', 'eyJ2Ijox+Q.' + 'A'.repeat(43), 'the token is not <claims>.<signature> in base64url'],
    ['a huge token', 'A'.repeat(MAX_TOKEN_LENGTH + 1), `the token is longer than ${MAX_TOKEN_LENGTH} characters`],
  ])('refuses %s', async (_label, token, reason) => {
    const keys = await importKeys([KEY_A]);
    expect(await verifyToken(keys, token, NOW)).toEqual({ ok: false, denial: { code: 'UNAUTHENTICATED', reason } });
  });

  it('refuses well-signed claims that break the rules: unknown claim, both stream and prefix, neither, bad action, bad name', async () => {
    const keys = await importKeys([KEY_A]);
    const cryptoKey = (await importKeys([KEY_A]))[0];
    if (cryptoKey === undefined) throw new Error('no key');
    // signToken validates, so these are signed by hand.
    const signRaw = async (json: unknown): Promise<string> => {
      const payload = base64url(new TextEncoder().encode(JSON.stringify(json)));
      const sig = new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, new TextEncoder().encode(payload)));
      return `${payload}.${base64url(sig)}`;
    };
    for (const bad of [
      { ...claims(), admin: true },
      { ...claims(), prefix: 'cam' },
      { v: 1, act: 'publish', exp: inAnHour },
      { ...claims(), act: 'delete' },
      { ...claims(), stream: '../etc' },
      { ...claims(), v: 2 },
      { ...claims(), exp: '9999999999' },
      [claims()],
    ]) {
      const verdict = await verifyToken(keys, await signRaw(bad), NOW);
      expect(verdict.ok, JSON.stringify(bad)).toBe(false);
      if (!verdict.ok) expect(verdict.denial.reason).toMatch(/^the token claims are invalid: /);
    }
    const notJson = base64url(new TextEncoder().encode('{not json'));
    const sig = new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, new TextEncoder().encode(notJson)));
    expect(await verifyToken(keys, `${notJson}.${base64url(sig)}`, NOW)).toEqual({ ok: false, denial: { code: 'UNAUTHENTICATED', reason: 'the token claims are not JSON' } });
  });

  it('signToken refuses claims that a verifier would refuse', async () => {
    await expect(signToken(KEY_A, { ...claims(), prefix: 'x' })).rejects.toThrow('a token names exactly one of stream and prefix');
  });
});

describe('permits', () => {
  it('allows the action on the stream it names, on any node when the token names none', () => {
    expect(permits(claims(), { action: 'publish', stream: 'cam1', node: 'origin' }, NOW)).toBeUndefined();
  });

  it('refuses another action, another stream, another node, with PERMISSION_DENIED and the rule', () => {
    expect(permits(claims(), { action: 'play', stream: 'cam1' }, NOW)).toEqual({ code: 'PERMISSION_DENIED', reason: 'the token does not allow play' });
    expect(permits(claims(), { action: 'publish', stream: 'cam2' }, NOW)).toEqual({ code: 'PERMISSION_DENIED', reason: 'the token is for stream "cam1"' });
    expect(permits(claims({ node: 'edge-1' }), { action: 'publish', stream: 'cam1', node: 'edge-2' }, NOW)).toEqual({
      code: 'PERMISSION_DENIED',
      reason: 'the token is for node edge-1',
    });
  });

  it('with a prefix allows the streams starting with it, and an empty prefix allows every stream', () => {
    const c: TokenClaims = { v: 1, act: 'play', prefix: 'team-a.', exp: inAnHour };
    expect(permits(c, { action: 'play', stream: 'team-a.cam' }, NOW)).toBeUndefined();
    expect(permits(c, { action: 'play', stream: 'team-b.cam' }, NOW)).toEqual({ code: 'PERMISSION_DENIED', reason: 'the token is for streams starting with "team-a."' });
    const all: TokenClaims = { v: 1, act: 'play', prefix: '', exp: inAnHour };
    expect(permits(all, { action: 'play', stream: 'anything' }, NOW)).toBeUndefined();
  });

  it('with both actions allows publish and play; without a stream in the request any named stream will do', () => {
    const both = claims({ act: ['publish', 'play'] });
    expect(permits(both, { action: 'play', stream: 'cam1' }, NOW)).toBeUndefined();
    expect(permits(both, { action: 'publish', stream: 'cam1' }, NOW)).toBeUndefined();
    expect(permits(claims({ act: 'play' }), { action: 'play' }, NOW)).toBeUndefined();
  });

  it('refuses once the token has expired, even with its claims already checked', () => {
    expect(permits(claims(), { action: 'publish', stream: 'cam1' }, inAnHour * 1000)).toEqual({ code: 'UNAUTHENTICATED', reason: 'the token has expired' });
  });
});
