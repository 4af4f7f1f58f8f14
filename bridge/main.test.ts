/**
 * The bridge process refuses to start without a real shared secret: there is no default, and a
 * short one is refused, before it reads anything else or listens anywhere.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(new URL('..', import.meta.url).pathname);

function runBridge(env: Record<string, string>): { status: number | null; stderr: string } {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'BRIDGE_SECRET'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bridge/main.ts')], {
    cwd: ROOT,
    // A port nobody listens on and a topology that does not exist: the secret check must come first.
    env: { ...base, FANOUT_BRIDGE_PORT: '1', FANOUT_TOPOLOGY: '/nonexistent.xml', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: r.status, stderr: r.stderr };
}

describe('bridge/main.ts', () => {
  it('without BRIDGE_SECRET exits 2 saying there is no default', () => {
    const r = runBridge({});
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('BRIDGE_SECRET must be set to a secret of at least 16 characters (there is no default)');
  });

  it('with a BRIDGE_SECRET shorter than 16 characters exits 2 without echoing it', () => {
    const r = runBridge({ BRIDGE_SECRET: 'tooShort123' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('BRIDGE_SECRET must be set');
    expect(r.stderr).not.toContain('tooShort123');
  });
});
