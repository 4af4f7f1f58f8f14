/**
 * Starts the local CDN (`npm start`'s launcher) for a test, in the test's own network namespace,
 * with its own state folder, and stops it again. Every stack a test starts is stopped by `stop()`
 * and, as a last resort, by the namespace's PID namespace ending with the test run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as v from 'valibot';
import { agentSecret } from '../../protocol/index.ts';

export const ROOT = resolve(new URL('../..', import.meta.url).pathname);

export interface StackOptions {
  /** Topology file (default: the repo's loadbalancing.xml). */
  topology?: string;
  worker?: boolean;
  /**
   * One bridge for every Janus node (`--bridge`) instead of one agent per node (the default): the
   * suites of the bridge itself (its API, its restart) use it.
   */
  bridge?: boolean;
  /**
   * Start it as a user does, with `npm start`, in a process group of its own (as a terminal runs a
   * command), so that `signal(..., 'group')` reaches npm and the launcher at once like a Ctrl-C.
   * Default: `node scripts/start.mjs` directly.
   */
  viaNpm?: boolean;
  env?: Record<string, string>;
  /** How long to wait for "Fanout is up." */
  timeoutMs?: number;
}

const StackInfo = v.object({
  launcher: v.number(),
  workerUrl: v.string(),
  /** Who drives the Janus nodes: the one bridge, or one agent per node. */
  control: v.picklist(['bridge', 'agents']),
  /** The bridge; with agents, the origin's agent (see scripts/launch/control.ts, primaryUrl). */
  bridgeUrl: v.string(),
  /** Each local node's controller: its agent, or (one bridge) the bridge. */
  agentUrls: v.record(v.string(), v.string()),
  children: v.array(v.object({ name: v.string(), pid: v.number() })),
});
export type StackInfo = v.InferOutput<typeof StackInfo>;

export class Stack {
  readonly stateDir: string;
  readonly process: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;
  #exitCode: number | null | undefined;

  private constructor(stateDir: string, child: ChildProcess) {
    this.stateDir = stateDir;
    this.process = child;
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((r) => child.once('exit', (code) => r((this.#exitCode = code))));
  }

  /** Spawns the launcher; does not wait. */
  static spawn(opts: StackOptions = {}): Stack {
    requireNamespace();
    const stateDir = mkdtempSync(join(tmpdir(), 'fanout-stack-'));
    const flags = [...(opts.worker === false ? ['--no-worker'] : []), ...(opts.bridge === true ? ['--bridge'] : [])];
    const [command, args] = opts.viaNpm === true ? ['npm', ['start', '--silent', '--', ...flags]] : [process.execPath, [join(ROOT, 'scripts/start.mjs'), ...flags]];
    const child = spawn(command, args, {
      cwd: ROOT,
      detached: opts.viaNpm === true,
      env: {
        ...process.env,
        FANOUT_STATE_DIR: stateDir,
        ...(opts.topology === undefined ? {} : { FANOUT_TOPOLOGY: opts.topology }),
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new Stack(stateDir, child);
  }

  /** Spawns the launcher and waits until it reports every part healthy. */
  static async start(opts: StackOptions = {}): Promise<Stack> {
    const stack = Stack.spawn(opts);
    try {
      await stack.waitForOutput('Fanout is up.', opts.timeoutMs ?? 90_000);
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return stack;
  }

  get running(): boolean {
    return this.#exitCode === undefined;
  }

  /** Where the output ends now: pass it as `from` to `waitForOutput` to wait for a line printed later. */
  outputMark(): number {
    return this.output.length;
  }

  /**
   * Waits until the launcher printed `text` (at `from` or later in its output); resolves with
   * Date.now() when it was seen (polled every 50 ms).
   */
  async waitForOutput(text: string, timeoutMs: number, from = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (!this.output.includes(text, from)) {
      if (!this.running) throw new Error(`the stack exited (${this.#exitCode}) before "${text}":\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`no "${text}" within ${timeoutMs} ms:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return Date.now();
  }

  info(): StackInfo {
    return v.parse(StackInfo, JSON.parse(readFileSync(join(this.stateDir, 'stack.json'), 'utf8')));
  }

  secrets(): { bridgeSecret: string; janusApiSecret: string } {
    const text = readFileSync(join(this.stateDir, 'secrets.env'), 'utf8');
    const get = (k: string): string => /^(\S+)=(.*)$/m.exec(text.split('\n').find((l) => l.startsWith(`${k}=`)) ?? '')?.[2] ?? '';
    return { bridgeSecret: get('BRIDGE_SECRET'), janusApiSecret: get('JANUS_API_SECRET') };
  }

  /** The pid of a child by its name in stack.json: "janus edge-1", "bridge", "agent edge-1", "worker (wrangler dev)". */
  pidOf(name: string): number {
    const c = this.info().children.find((x) => x.name === name);
    if (c === undefined) throw new Error(`no child named ${name}`);
    return c.pid;
  }

  /** What a link to the process that drives `node` presents: its agent's own credential, or the bridge's secret. */
  async agentSecret(node: string): Promise<string> {
    const { bridgeSecret } = this.secrets();
    return this.info().control === 'agents' ? agentSecret(bridgeSecret, node) : bridgeSecret;
  }

  /** The URL of the process that drives `node`: its agent (the default), or the bridge. */
  agentUrl(node: string): string {
    const urls = this.info().agentUrls;
    const url = urls[node];
    if (url === undefined) throw new Error(`no agent for node "${node}" (agents: ${JSON.stringify(urls)})`);
    return url;
  }

  /** The pid of a node's agent (the launcher names it "agent <node>"; a restart writes the new pid). */
  agentPid(node: string): number {
    return this.pidOf(`agent ${node}`);
  }

  /** Sends `signal` to the process the stack was started as (the launcher, or npm), or to its whole process group. */
  signal(signal: NodeJS.Signals, to: 'process' | 'group' = 'process'): void {
    const pid = this.process.pid;
    if (pid === undefined) throw new Error('the stack never started');
    if (to === 'group') process.kill(-pid, signal);
    else this.process.kill(signal);
  }

  /** SIGTERM to the launcher (or npm), which stops its children; SIGKILL after `graceMs`. */
  async stop(graceMs = 20_000): Promise<number | null> {
    if (!this.running) return this.#exitCode ?? null;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** Media suites run only inside test/netns; refuse loudly anywhere else. */
export function requireNamespace(): void {
  if (process.env['FANOUT_NETNS'] !== '1') {
    throw new Error('this suite must run inside test/netns (a fresh network namespace); use npm test');
  }
}
