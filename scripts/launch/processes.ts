/**
 * Child processes of the launcher: started in their own process group (so that a child's own
 * children, such as wrangler's workerd, stop with it), output appended to a log file, stopped with
 * SIGTERM and then SIGKILL after a grace period. A stop ends only when no process of the group is
 * left: the direct child exiting is not enough, its own children (wrangler's CLI and workerd, tsx's
 * esbuild) may still be running and holding ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ChildSpec {
  /** Name used in messages, e.g. "janus edge-1". */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  /** How long to wait after SIGTERM before SIGKILL. */
  killAfterMs?: number;
}

export class Child {
  readonly spec: ChildSpec;
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #stopping: Promise<void> | undefined;

  constructor(spec: ChildSpec) {
    this.spec = spec;
    const log = createWriteStream(spec.logFile, { flags: 'a' });
    this.process = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process.stdout?.pipe(log, { end: false });
    this.process.stderr?.pipe(log, { end: false });
    this.exited = new Promise((resolve) => {
      this.process.once('error', (err) => {
        log.write(`\n[launcher] could not start ${spec.command}: ${err.message}\n`);
        this.#exit = { code: 127, signal: null };
        resolve(this.#exit);
      });
      this.process.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  describeExit(): string {
    const e = this.#exit;
    if (e === undefined) return 'running';
    return e.signal !== null ? `killed by ${e.signal}` : `exited with code ${e.code}`;
  }

  /** The last lines of the child's log, to explain a failure. */
  tail(lines = 8): string {
    try {
      const text = readFileSync(this.spec.logFile, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
      return text.trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /**
   * SIGTERM to the whole group, SIGKILL after the grace period; resolves once every process of the
   * group is gone, also when the child itself had already exited (what it left behind is ended).
   * Safe to call twice.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const pid = this.pid;
      if (pid === undefined) return; // never started: spawn failed
      if (this.running) {
        signalGroup(pid, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), this.spec.killAfterMs ?? 4000);
        await this.exited;
        clearTimeout(timer);
      }
      // Anything the child left behind in its group goes too, and is waited for: a port is free
      // only once the process holding it is gone.
      signalGroup(pid, 'SIGKILL');
      const left = await groupGone(pid, GROUP_GONE_MS);
      if (left.length > 0) {
        process.stderr.write(`${this.spec.name}: pid ${left.join(', ')} still alive ${GROUP_GONE_MS} ms after SIGKILL\n`);
      }
    })();
    return this.#stopping;
  }
}

/** How long a SIGKILLed group may take to be gone before the stop gives up waiting (a process in uninterruptible sleep). */
const GROUP_GONE_MS = 5000;

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Waits until no live process is in the group; returns the pids still alive at the deadline. */
async function groupGone(pgid: number, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = groupMembers(pgid);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(20);
  }
}

/**
 * Live members of a process group. From /proc where there is one: a zombie has exited (its ports
 * are closed) but still counts for kill(), and orphaned zombies are never reaped when a Node
 * process is PID 1 of a PID namespace (test/netns). Elsewhere, kill(-pgid, 0).
 */
function groupMembers(pgid: number): number[] {
  if (!existsSync('/proc/self/stat')) {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') members.push(Number(entry));
  }
  return members;
}
