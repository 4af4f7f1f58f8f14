/**
 * Reads CPU time and memory of processes from /proc (Linux only; the benchmark runs in test/netns).
 * CPU is utime + stime of the whole process (every thread), in clock ticks.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clkTck: number | undefined;

/** Clock ticks per second (getconf CLK_TCK; 100 on every common Linux). */
export function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of `pid` in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may contain spaces: ") S ppid ..." -> utime is field 14.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / ticksPerSecond();
}

/** Resident set size of `pid` in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export function threadCount(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).length;
}

function ppidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function commOf(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

/** Descendants of `root` whose command name is `comm` (e.g. the workerd under wrangler). */
export function descendantsNamed(root: number, comm: string): number[] {
  const parent = new Map<number, number>();
  const names = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      parent.set(pid, ppidOf(pid));
      names.set(pid, commOf(pid));
    } catch {
      // exited while listed
    }
  }
  const isUnder = (pid: number): boolean => {
    for (let p = parent.get(pid), hops = 0; p !== undefined && p > 0 && hops < 64; p = parent.get(p), hops++) {
      if (p === root) return true;
    }
    return false;
  };
  return [...names.entries()].filter(([pid, name]) => name === comm && isUnder(pid)).map(([pid]) => pid);
}

/** A process the benchmark accounts CPU to, under a component's name. */
export interface Accounted {
  component: string;
  pid: number;
}

/** CPU seconds of each component now (processes that exited count as 0). */
export function cpuByComponent(procs: readonly Accounted[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of procs) {
    let s = 0;
    try {
      s = cpuSeconds(p.pid);
    } catch {
      // exited
    }
    out[p.component] = (out[p.component] ?? 0) + s;
  }
  return out;
}
