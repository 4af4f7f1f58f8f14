/** `npm run token`'s arguments: what each form mints, and the errors that name the flag. */
import { describe, expect, it } from 'vitest';
import { UsageError, claimsOf, parseDuration, parseTokenArgs } from './args.ts';

describe('parseTokenArgs', () => {
  it('--publish NAME --ttl 1h mints a publish token for that stream', () => {
    const cmd = parseTokenArgs(['--publish', 'cam1', '--ttl', '1h']);
    expect(cmd).toEqual({ kind: 'mint', actions: ['publish'], stream: 'cam1', ttlSeconds: 3600 });
    if (cmd.kind !== 'mint') throw new Error('not mint');
    expect(claimsOf(cmd, 1_000_000_000_500)).toEqual({ v: 1, act: 'publish', stream: 'cam1', exp: 1_000_003_600, iat: 1_000_000_000 });
  });

  it('--publish --play NAME is one token with both actions; --play --prefix "" covers every stream; --node pins it', () => {
    const both = parseTokenArgs(['--publish', '--play', 'cam1']);
    if (both.kind !== 'mint') throw new Error('not mint');
    expect(claimsOf(both, 0)).toMatchObject({ act: ['publish', 'play'], stream: 'cam1' });
    expect(parseTokenArgs(['--play', '--prefix', '', '--node', 'edge-2'])).toEqual({ kind: 'mint', actions: ['play'], prefix: '', ttlSeconds: 3600, node: 'edge-2' });
  });

  it('--new-key asks for a key', () => {
    expect(parseTokenArgs(['--new-key'])).toEqual({ kind: 'new-key' });
  });

  it.each([
    [[], 'say what the token allows: --publish and/or --play'],
    [['--publish'], 'name the stream (--publish NAME / --play NAME) or a --prefix'],
    [['--publish', 'a', '--play', 'b'], 'one token names one stream; got "a" and "b"'],
    [['--publish', 'a', '--prefix', 'x'], 'give a stream NAME or a --prefix, not both'],
    [['--publish', '.hidden'], 'stream ".hidden": a stream name is 1-128 characters'],
    [['--play', 'a', '--node', 'Edge 1'], '--node "Edge 1" is not a node id'],
    [['--play', 'a', '--ttl'], '--ttl needs a value'],
    [['--play', 'a', '--frobnicate'], 'unknown argument "--frobnicate"'],
  ])('%j is refused: %s', (argv, message) => {
    expect(() => parseTokenArgs(argv)).toThrow(UsageError);
    expect(() => parseTokenArgs(argv)).toThrow(message);
  });
});

describe('parseDuration', () => {
  it('reads s, m, h and d, and refuses anything else or more than 366 days', () => {
    expect([parseDuration('90s'), parseDuration('30m'), parseDuration('1h'), parseDuration('7d')]).toEqual([90, 1800, 3600, 604800]);
    for (const bad of ['1', '1w', '-1h', '0s', '400d', 'h']) expect(() => parseDuration(bad), bad).toThrow(UsageError);
  });
});
