/**
 * Finds the `janus` binary, installing Debian's package when run as root; otherwise says exactly
 * what to run.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

function which(bin: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter).concat(['/usr/bin', '/usr/sbin'])) {
    const p = join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export async function ensureJanus(): Promise<string> {
  const found = process.env['FANOUT_JANUS_BIN'] || which('janus');
  if (found !== undefined) return found;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || which('apt-get') === undefined) {
    throw new Error(
      'Janus is not installed. Install Debian\'s package, then run npm start again:\n\n    sudo apt-get update && sudo apt-get install -y janus\n',
    );
  }
  process.stdout.write('Janus is not installed: installing Debian\'s janus package (apt-get)...\n');
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'janus']]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (exit ${r.status}); install janus by hand: apt-get install -y janus`);
  }
  const installed = which('janus');
  if (installed === undefined) throw new Error('apt-get installed janus but no janus binary was found on PATH');
  return installed;
}
