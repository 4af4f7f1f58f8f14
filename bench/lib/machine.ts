/**
 * The machine and the versions the numbers were measured with, recorded next to them: numbers from
 * a shared 2-core VM and from a workstation are not comparable, and ratios only hold for the
 * versions they were measured on.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  /** 1/5/15-minute load averages when the run started: other work on a shared machine shows here. */
  loadAverage: number[];
}

export interface Versions {
  node: string;
  janus: string;
  chromium: string;
  wrangler: string;
  workerd: string;
  janode: string;
  werift: string;
  playwrightCore: string;
}

export interface GitInfo {
  commit: string;
  branch: string;
  /** Files changed but not committed when the run started (the run measures the working tree). */
  dirty: boolean;
  /** The first of those files, so a before/after comparison can tell what the tree held. */
  dirtyFiles: string[];
}

function run(cmd: string, args: string[], root: string, keepSpace = false): string {
  try {
    const out = execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    return keepSpace ? out : out.trim();
  } catch (err) {
    // `janus --version` prints its version and exits 1: keep what it printed.
    const out = typeof err === 'object' && err !== null && 'stdout' in err ? err.stdout : undefined;
    return typeof out === 'string' ? out.trim() : '';
  }
}

function packageVersion(root: string, name: string): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8'));
    return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string' ? pkg.version : '';
  } catch {
    return '';
  }
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export function versions(root: string, chromium: string): Versions {
  const janus = /Janus version:\s*\d+\s*\(([^)]+)\)/.exec(run('janus', ['--version'], root))?.[1] ?? '';
  // wrangler's own workerd comes from miniflare's "workerd" dependency.
  return {
    node: process.version,
    janus,
    chromium,
    wrangler: packageVersion(root, 'wrangler'),
    workerd: packageVersion(root, 'workerd'),
    janode: packageVersion(root, 'janode'),
    werift: packageVersion(root, 'werift'),
    playwrightCore: packageVersion(root, 'playwright-core'),
  };
}

export function gitInfo(root: string): GitInfo {
  // Porcelain lines are "XY path": the leading space of " M path" matters, so no trimming.
  const changed = run('git', ['status', '--porcelain', '--untracked-files=no'], root, true)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.slice(3));
  return {
    commit: run('git', ['rev-parse', 'HEAD'], root),
    branch: run('git', ['rev-parse', '--abbrev-ref', 'HEAD'], root),
    dirty: changed.length > 0,
    dirtyFiles: changed.slice(0, 30),
  };
}
