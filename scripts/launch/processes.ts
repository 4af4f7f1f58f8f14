/**
 * Child processes of the launcher: started in their own process group (so that a child's own
 * children, such as wrangler's workerd, stop with it), output appended to a log file, stopped with
 * SIGTERM and then SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';

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

  /** SIGTERM to the whole group, SIGKILL after the grace period. Safe to call twice. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (!this.running || this.pid === undefined) return;
      const pid = this.pid;
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), this.spec.killAfterMs ?? 4000);
      await this.exited;
      clearTimeout(timer);
      // Anything the child left behind in its group goes too.
      signalGroup(pid, 'SIGKILL');
    })();
    return this.#stopping;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}
