#!/usr/bin/env node
// `npm test`: every suite, in order: lint (biome, rules in biome.jsonc), typecheck, unit tests
// (Node), worker tests (vitest inside workerd), then the integration and browser suites inside a
// fresh network namespace (test/netns).
// Installs what is missing first. Ends with each runner's summary and one total line.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { checkNode, ensureDebianPackages, ensureNodeModules, root } from './bootstrap.mjs';

checkNode();
ensureNodeModules();
// docker-compose and shellcheck: the Docker files are validated without an engine (test/integration/docker-config.test.ts).
ensureDebianPackages({ janus: 'janus', chromium: 'chromium', ip: 'iproute2', unshare: 'util-linux', nft: 'nftables', 'docker-compose': 'docker-compose', shellcheck: 'shellcheck' });

const out = join(root, '.fanout', 'test-results');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const offline = {
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_SEND_ERROR_REPORTS: 'false',
  WRANGLER_HIDE_BANNER: 'true',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  NO_COLOR: '1',
};
const bin = (name) => join(root, 'node_modules', '.bin', name);

const suites = [
  // Every finding, not biome's first 20: the run should show all there is to fix.
  { name: 'lint', cmds: [[bin('biome'), 'lint', '--max-diagnostics=none', '.']] },
  { name: 'typecheck', cmds: ['tsconfig.json', 'worker/tsconfig.json', 'worker/test-support/tsconfig.json', 'sdk/tsconfig.json', 'sdk/tsconfig.test.json'].map((p) => [bin('tsc'), '--noEmit', '-p', p]) },
  { name: 'unit', vitest: 'vitest.unit.config.ts' },
  { name: 'worker', vitest: 'vitest.worker.config.ts' },
  { name: 'integration', vitest: 'vitest.integration.config.ts', netns: true },
];

const results = [];
for (const suite of suites) {
  console.log(`\n=== ${suite.name} ===`);
  if (suite.cmds) {
    const ok = suite.cmds.every((cmd) => spawnSync(cmd[0], cmd.slice(1), { cwd: root, stdio: 'inherit' }).status === 0);
    results.push({ name: suite.name, passed: ok ? 1 : 0, failed: ok ? 0 : 1, skipped: 0, note: ok ? 'clean' : 'errors' });
    continue;
  }
  const json = join(out, `${suite.name}.json`);
  const args = ['run', '--config', suite.vitest, '--reporter=default', '--reporter=json', `--outputFile.json=${json}`];
  const cmd = suite.netns ? [join(root, 'test/netns'), bin('vitest'), ...args] : [bin('vitest'), ...args];
  const r = spawnSync(cmd[0], cmd.slice(1), { cwd: root, stdio: 'inherit', env: { ...process.env, ...offline } });
  if (r.status === 77 && suite.netns) {
    console.log(`\n!!! ${suite.name}: SKIPPED: no network namespace could be made here (see the message above). These suites did NOT pass.\n`);
    results.push({ name: suite.name, passed: 0, failed: 0, skipped: 1, note: 'SKIPPED (no namespace)' });
    continue;
  }
  if (!existsSync(json)) {
    results.push({ name: suite.name, passed: 0, failed: 1, skipped: 0, note: `runner exited ${r.status} without results` });
    continue;
  }
  const report = JSON.parse(readFileSync(json, 'utf8'));
  const failed = report.numFailedTests + (r.status !== 0 && report.numFailedTests === 0 ? 1 : 0);
  results.push({
    name: suite.name,
    passed: report.numPassedTests,
    failed,
    skipped: report.numPendingTests + report.numTodoTests,
    note: r.status === 0 ? '' : `runner exited ${r.status}`,
  });
}

console.log('\n=== summary ===');
for (const s of results) {
  console.log(`${s.name.padEnd(12)} ${String(s.passed).padStart(4)} passed ${String(s.failed).padStart(3)} failed ${String(s.skipped).padStart(3)} skipped  ${s.note}`);
}
const sum = (k) => results.reduce((n, s) => n + s[k], 0);
console.log(`${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped`);
process.exit(sum('failed') > 0 ? 1 : 0);
