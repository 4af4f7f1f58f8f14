#!/usr/bin/env node
// Builds the browser SDK (sdk/) with esbuild:
//   worker/public/sdk/fanout.js   IIFE for <script> tags, global `Fanout` (served by the worker)
//   dist/sdk/index.js             ESM for bundlers, with index.d.ts and the other declarations (tsc)
// Both are build artefacts (git-ignored). `wrangler dev`/`deploy` run this through wrangler.toml's
// [build] command, so the served bundle always matches the source.
//
//   node scripts/build-sdk.mjs            both outputs
//   node scripts/build-sdk.mjs --browser  the served bundle only (fast; what wrangler runs)
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = join(root, 'sdk/index.ts');
const browserOnly = process.argv.includes('--browser');

const common = {
  entryPoints: [entry],
  bundle: true,
  target: ['es2022', 'chrome100', 'firefox100', 'safari15'],
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
};

const started = Date.now();
await build({
  ...common,
  format: 'iife',
  globalName: 'Fanout',
  minify: true,
  outfile: join(root, 'worker/public/sdk/fanout.js'),
});

if (!browserOnly) {
  await build({ ...common, format: 'esm', minify: false, outfile: join(root, 'dist/sdk/index.js') });
  const out = join(root, 'dist/sdk');
  const tsc = spawnSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'sdk/tsconfig.json'), '--noEmit', 'false', '--declaration', '--emitDeclarationOnly', '--outDir', out],
    { stdio: 'inherit' },
  );
  if (tsc.status !== 0) {
    console.error('build-sdk: the declarations did not build (see above)');
    process.exit(1);
  }
  // The SDK imports the shared contract (protocol/wcs.ts), so tsc lays the declarations out from
  // the repository root: dist/sdk/sdk/*.d.ts and dist/sdk/protocol/*.d.ts. dist/sdk/index.d.ts
  // points at the SDK's own; the sources import './x.ts', published declarations must name './x.js'.
  writeFileSync(join(out, 'index.d.ts'), "export * from './sdk/index.js';\n");
  for (const f of readdirSync(out, { recursive: true }).map(String).filter((n) => n.endsWith('.d.ts'))) {
    const file = join(out, f);
    writeFileSync(file, readFileSync(file, 'utf8').replace(/((?:from\s+|import\()'\.{1,2}\/[\w/.-]+?)\.ts'/g, "$1.js'"));
  }
}

console.log(`build-sdk: worker/public/sdk/fanout.js${browserOnly ? '' : ' and dist/sdk/ (ESM + .d.ts)'} in ${Date.now() - started} ms`);
