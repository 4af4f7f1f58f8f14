// Set-up shared by `npm start` and `npm test`, in plain JavaScript because it runs before
// node_modules exists: installs npm dependencies when they are missing or stale, and finds (or,
// as root, installs) the Debian packages a command needs.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

export function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 3)) {
    console.error(`Fanout needs Node.js 20.3 or later (this is ${process.versions.node}).`);
    process.exit(1);
  }
}

/**
 * Whether node_modules holds what package-lock.json asks for: every non-optional package of the
 * lock at the locked version, as npm's own record of the tree (node_modules/.package-lock.json)
 * lists it. Content, not file times: a checkout that touches the lock without changing it
 * installs nothing, and nothing is reinstalled under a running stack.
 */
function installedMatchesLock() {
  const lockFile = join(root, 'package-lock.json');
  const hiddenFile = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(hiddenFile)) return false;
  if (!existsSync(lockFile)) return existsSync(join(root, 'node_modules', 'tsx'));
  try {
    const wanted = JSON.parse(readFileSync(lockFile, 'utf8')).packages ?? {};
    const have = JSON.parse(readFileSync(hiddenFile, 'utf8')).packages ?? {};
    return existsSync(join(root, 'node_modules', 'tsx')) && Object.entries(wanted).every(([path, pkg]) => path === '' || pkg.optional === true || have[path]?.version === pkg.version);
  } catch {
    return false;
  }
}

export function ensureNodeModules() {
  if (installedMatchesLock()) return;
  const lock = join(root, 'package-lock.json');
  console.log(`Installing npm dependencies (npm ${existsSync(lock) ? 'ci' : 'install'})...`);
  const r = spawnSync('npm', [existsSync(lock) ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('npm could not install the dependencies; see the output above.');
    process.exit(1);
  }
}

export function which(bin) {
  for (const dir of (process.env.PATH ?? '').split(delimiter).concat(['/usr/bin', '/usr/sbin'])) {
    try {
      accessSync(join(dir, bin), constants.X_OK);
      return join(dir, bin);
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Makes sure each Debian package's binary is present: `packages` maps a binary to its package.
 * As root, installs what is missing with apt-get; otherwise prints the exact command and exits.
 */
export function ensureDebianPackages(packages) {
  const missing = Object.entries(packages).filter(([bin]) => which(bin) === undefined).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || which('apt-get') === undefined) {
    console.error(`Missing Debian packages: ${missing.join(', ')}. Install them, then run this again:\n\n    sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}\n`);
    process.exit(1);
  }
  console.log(`Installing Debian packages: ${missing.join(', ')} (apt-get)...`);
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...missing]]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) {
      console.error(`apt-get ${args.join(' ')} failed; install by hand: apt-get install -y ${missing.join(' ')}`);
      process.exit(1);
    }
  }
}
