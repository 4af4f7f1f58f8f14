/**
 * Process inspection inside the test's PID namespace: every process listed is one this test run
 * started, so "nothing left behind" can be checked by name, by process group, and by the ports
 * the processes held.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

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

/** Live (not zombie) processes of a process group: the launcher starts each part as a group leader, pgid = its pid. */
export function processGroup(pgid: number): ProcInfo[] {
  return listProcesses().filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
      // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid;
    } catch {
      return false; // exited while we looked
    }
  });
}

export interface BoundSocket {
  proto: 'tcp' | 'udp';
  ip: string;
  port: number;
}

/**
 * The TCP ports listening and the UDP ports bound by these processes (IPv4; the namespace has IPv6
 * off), found by matching the socket inodes of their open files against /proc/net/{tcp,udp}.
 */
export function socketsOf(pids: number[]): BoundSocket[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // exited while we looked
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1] !== undefined) inodes.add(m[1]);
      } catch {
        // closed while we looked
      }
    }
  }
  const out: BoundSocket[] = [];
  for (const proto of ['tcp', 'udp'] as const) {
    for (const line of readFileSync(`/proc/net/${proto}`, 'utf8').trim().split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
      const [, local, , state, , , , , , inode] = line.trim().split(/\s+/);
      if (local === undefined || inode === undefined || !inodes.has(inode)) continue;
      if (proto === 'tcp' && state !== '0A') continue; // 0A: LISTEN
      const [hexIp, hexPort] = local.split(':');
      const ip = (hexIp?.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)).join('.');
      out.push({ proto, ip, port: parseInt(hexPort ?? '0', 16) });
    }
  }
  return out;
}
