/**
 * Process inspection inside the test's PID namespace: every process listed is one this test run
 * started, so "nothing left behind" can be checked by name.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcInfo {
  pid: number;
  comm: string;
  cmdline: string;
}

export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (/\) Z /.test(stat)) continue; // a zombie is already dead
      out.push({ pid: Number(entry), comm, cmdline });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Processes of the CDN's parts: Janus, the bridge, wrangler and workerd. */
export function stackProcesses(): ProcInfo[] {
  return listProcesses().filter(
    (p) => p.comm === 'janus' || p.comm === 'workerd' || /bridge\/main\.ts|wrangler\.js|scripts\/start\.mjs/.test(p.cmdline),
  );
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = (() => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return '';
    }
  })();
  return stat !== '' && !/\) Z /.test(stat);
}
