#!/usr/bin/env node
// `npm start`: installs npm dependencies when they are missing, then runs the launcher
// (scripts/launch/main.ts) through tsx. Plain JavaScript: it must run before node_modules exists.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 3)) {
  console.error(`Fanout needs Node.js 20.3 or later (this is ${process.versions.node}).`);
  process.exit(1);
}

const marker = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');
const stale = !existsSync(marker) || !existsSync(join(root, 'node_modules', 'tsx')) ||
  (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000);
if (stale) {
  console.log('Installing npm dependencies (npm ci)...');
  const r = spawnSync('npm', [existsSync(lock) ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('npm could not install the dependencies; see the output above.');
    process.exit(1);
  }
}

const { register } = await import('tsx/esm/api');
register();
await import('./launch/main.ts');
