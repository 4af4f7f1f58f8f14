#!/usr/bin/env node
// `npm start`: installs npm dependencies when they are missing, then runs the launcher
// (scripts/launch/main.ts) through tsx. The launcher checks for Janus itself.
// package.json runs this with `exec node ...`, so that this process is npm's own child: npm sends
// it the SIGINT/SIGTERM it gets and exits only after it. Without the exec, npm's child is `sh`,
// which dies at once of a SIGTERM: npm then exited while the launcher was still stopping Janus
// (or, for a SIGTERM to npm alone, the launcher was never told to stop).
import { checkNode, ensureNodeModules } from './bootstrap.mjs';

checkNode();
ensureNodeModules();
const { register } = await import('tsx/esm/api');
register();
await import('./launch/main.ts');
