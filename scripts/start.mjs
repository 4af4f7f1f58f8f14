#!/usr/bin/env node
// `npm start`: installs npm dependencies when they are missing, then runs the launcher
// (scripts/launch/main.ts) through tsx. The launcher checks for Janus itself.
import { checkNode, ensureNodeModules } from './bootstrap.mjs';

checkNode();
ensureNodeModules();
const { register } = await import('tsx/esm/api');
register();
await import('./launch/main.ts');
