/**
 * `npm start`: runs the whole CDN locally: a Janus node per local node of the topology (every origin
 * and edge, ./node-plan.ts), the bridge (or, with --agents, one agent per local node) and
 * `wrangler dev`. Waits for each health check, prints the URLs, and stops everything it started on
 * Ctrl-C / SIGTERM, or when a part fails to start. A Janus node, the bridge or an agent that dies is restarted, as a service manager
 * would (the bridge and agents after 250 ms).
 *
 * Settings (environment):
 *   FANOUT_TOPOLOGY        topology file (default loadbalancing.xml): nodes, ports, balancing
 *   FANOUT_STATE_DIR       runtime folder for configs, logs and secrets (default .fanout)
 *   FANOUT_BRIDGE_STATE_DIR  set by the launcher for the bridge, to <FANOUT_STATE_DIR>/bridge (see
 *                          bridge/main.ts for the bridge's own default): where the bridge keeps its
 *                          journal of what it made on each Janus node (sessions, handles,
 *                          rooms, forwarders, mountpoints), so that a restarted bridge claims and
 *                          re-adopts them instead of losing every stream. The same folder for every
 *                          restart of the bridge; a value in the launcher's own environment is ignored.
 *                          With --agents: <FANOUT_STATE_DIR>/agents/<node> for each node's agent.
 *   FANOUT_WORKER_PORT     wrangler dev port (default 8787)
 *   FANOUT_BRIDGE_PORT     bridge port (default 8790); with --agents, each node's agent listens at
 *                          this + 1 + the node's index in the topology (8791, 8792, ...)
 *   FANOUT_JANUS_IP        bind every Janus node's media and ICE to this address
 *   FANOUT_JANUS_RESTART_MS  restart a Janus node that dies after this delay (default 2000; 0: never)
 *   FANOUT_JANUS_ADMIN_PORT_OFFSET  turn on each local node's Janus admin API (loopback, the API
 *                          secret) at its API port + this offset; unset: off (the test suites use it)
 *   FANOUT_LOG_LEVEL       bridge log level (default info)
 *   FANOUT_TOKEN_KEYS, WCS_*  passed to the worker (token keys; limits and timers, see worker/README.md)
 *
 * Flags:
 *   --no-worker            run the Janus nodes and the bridge only (the worker runs elsewhere)
 *   --agents               one agent per local Janus node (`bridge/main.ts --node <id>`) instead of
 *                          the one bridge; each node's Janus posts its events to its own agent,
 *                          and the worker gets AGENT_URLS (its coordinator relays every stream
 *                          from its origin's agent to the edges' agents).
 *
 * stack.json (in FANOUT_STATE_DIR) says where everything is: the worker, `bridgeUrl` (the bridge; with
 * --agents the first origin's agent, ./control.ts primaryUrl), `agentUrls` (each local node's
 * controller: its agent, or the bridge) and the pid of every child by name ("janus edge-1",
 * "bridge", "agent edge-1", ...).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { loadTopology, TopologyError, type Topology } from '../../bridge/topology/index.ts';
import { agentSecret } from '../../protocol/index.ts';
import { BRIDGE_RESTART_MS } from './bridge-env.ts';
import { agentUrls, agentUrlsVar, ControlError, controlPlan, eventsUrlFor, parseFlags, primaryUrl, type ControlMode, type ControlProcess } from './control.ts';
import { ensureJanus } from './janus-install.ts';
import { parseEnvFile, writeJanusConfig } from './janus-config.ts';
import { checkDistinctPorts, janusPorts, localJanusPlan, NodePlanError, type LocalJanus, type PortUse } from './node-plan.ts';
import { Child } from './processes.ts';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const WRANGLER_VERSION = '4.86.0';

class StartError extends Error {
  override readonly name = 'StartError';
}

interface Settings {
  topology: Topology;
  stateDir: string;
  workerPort: number;
  bridgePort: number;
  janusIp: string;
  janusRestartMs: number;
  /** Admin API port = API port + this; undefined: no admin API. */
  janusAdminPortOffset: number | undefined;
  logLevel: string;
  worker: boolean;
  control: ControlMode;
}

function intEnv(name: string, fallback: number, min = 0, max = 65535): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new StartError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}

function readSettings(): Settings {
  // Flags first: a wrong one fails at once, before the topology or anything else is looked at.
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ControlError) throw new StartError(err.message);
    throw err;
  }
  const file = resolve(process.env['FANOUT_TOPOLOGY'] || join(ROOT, 'loadbalancing.xml'));
  let topology: Topology;
  try {
    topology = loadTopology(file);
  } catch (err) {
    if (err instanceof TopologyError) throw new StartError(`bad topology: ${err.message}`);
    throw err;
  }
  return {
    topology,
    stateDir: resolve(process.env['FANOUT_STATE_DIR'] || join(ROOT, '.fanout')),
    workerPort: intEnv('FANOUT_WORKER_PORT', 8787, 1),
    bridgePort: intEnv('FANOUT_BRIDGE_PORT', 8790, 1),
    janusIp: process.env['FANOUT_JANUS_IP'] ?? '',
    janusRestartMs: intEnv('FANOUT_JANUS_RESTART_MS', 2000, 0, 600_000),
    janusAdminPortOffset: process.env['FANOUT_JANUS_ADMIN_PORT_OFFSET'] ? intEnv('FANOUT_JANUS_ADMIN_PORT_OFFSET', 0, 1, 60000) : undefined,
    logLevel: process.env['FANOUT_LOG_LEVEL'] || 'info',
    ...flags,
  };
}

/** Secrets for local runs: generated once into an ignored file, never committed. */
function loadSecrets(stateDir: string): { bridgeSecret: string; janusApiSecret: string } {
  const file = join(stateDir, 'secrets.env');
  const existing = existsSync(file) ? parseEnvFile(readFileSync(file, 'utf8')) : {};
  const bridgeSecret = existing['BRIDGE_SECRET'] || randomBytes(24).toString('base64url');
  const janusApiSecret = existing['JANUS_API_SECRET'] || randomBytes(24).toString('base64url');
  if (existing['BRIDGE_SECRET'] !== bridgeSecret || existing['JANUS_API_SECRET'] !== janusApiSecret) {
    writeFileSync(
      file,
      `# Generated by npm start for local runs. Not committed.\nBRIDGE_SECRET=${bridgeSecret}\nJANUS_API_SECRET=${janusApiSecret}\n`,
      { mode: 0o600 },
    );
  }
  writeFileSync(join(stateDir, 'worker.env'), `BRIDGE_SECRET=${bridgeSecret}\n${workerPassThrough()}`, { mode: 0o600 });
  return { bridgeSecret, janusApiSecret };
}

/** FANOUT_TOKEN_KEYS and the WCS_* settings of this environment, as lines for the worker's env file. */
function workerPassThrough(): string {
  return Object.entries(process.env)
    .filter(([name, value]) => (name === 'FANOUT_TOKEN_KEYS' || /^WCS_[A-Z_]+$/.test(name)) && value !== undefined && value !== '')
    .map(([name, value]) => {
      if (/[\r\n]/.test(value ?? '')) throw new StartError(`${name} must be one line`);
      return `${name}=${value}\n`;
    })
    .join('');
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const srv = createServer();
    srv.once('error', () => done(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => done(true)));
  });
}

async function waitFor(what: Child, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!what.running) {
      const tail = what.tail();
      throw new StartError(`${what.spec.name} ${what.describeExit()} while starting${tail ? `:\n${indent(tail)}` : ''}\n  (log: ${what.spec.logFile})`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new StartError(`${what.spec.name} did not pass its health check within ${timeoutMs / 1000} s (log: ${what.spec.logFile})`);
    }
    await sleep(150);
  }
}

function indent(text: string): string {
  return text.split('\n').map((l) => `    ${l}`).join('\n');
}

/** Janus answers an `info` request on its WebSocket API. */
function janusInfo(url: string, apiSecret: string): Promise<boolean> {
  return new Promise((done) => {
    const ws = new WebSocket(url, 'janus-protocol');
    const timer = setTimeout(() => {
      ws.terminate();
      done(false);
    }, 1000);
    ws.once('open', () => ws.send(JSON.stringify({ janus: 'info', transaction: 'health', apisecret: apiSecret })));
    ws.once('message', (data) => {
      clearTimeout(timer);
      ws.close();
      done(String(data).includes('"server_info"'));
    });
    ws.once('error', () => {
      clearTimeout(timer);
      done(false);
    });
  });
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await res.arrayBuffer();
  return res.status === 200;
}

/** `wrangler dev`, kept offline (see workers.md): no metrics, no update check, no cf fetch. */
function workerProcess(s: Settings, bridgeUrl: string, agentUrls: string, logDir: string): Child {
  const tmp = join(s.stateDir, 'tmp');
  mkdirSync(join(tmp, 'update-check'), { recursive: true });
  writeFileSync(join(tmp, 'update-check', 'wrangler-latest.json'), JSON.stringify({ latest: WRANGLER_VERSION, lastUpdate: 32503680000000 }));
  return new Child({
    name: 'worker (wrangler dev)',
    command: process.execPath,
    args: [
      join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'dev', '--local',
      '--ip', '127.0.0.1', '--port', String(s.workerPort),
      '--env-file', join(s.stateDir, 'worker.env'),
      '--var', `BRIDGE_URL:${bridgeUrl}`,
      ...(agentUrls === '' ? [] : ['--var', `AGENT_URLS:${agentUrls}`]),
      '--persist-to', join(s.stateDir, 'wrangler'),
      '--show-interactive-dev-session=false',
      '--inspector-port', '0',
      '--log-level', 'warn',
    ],
    cwd: ROOT,
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: 'false',
      WRANGLER_SEND_ERROR_REPORTS: 'false',
      WRANGLER_HIDE_BANNER: 'true',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      XDG_CONFIG_HOME: join(s.stateDir, 'xdg'),
      TMPDIR: tmp,
      CI: 'true',
    },
    logFile: join(logDir, 'worker.log'),
    killAfterMs: 5000,
  });
}

/** Thrown when a part would start after a stop began (a signal during start-up). */
class StoppingError extends Error {
  override readonly name = 'StoppingError';
}

async function main(): Promise<void> {
  const children: Child[] = [];
  let stopping: Promise<void> | undefined;
  /**
   * Stops every child, the worker first and Janus last, and resolves once each one's process group
   * is gone. One stop per run: the signal handler, a failed start and the worker's death share it.
   * The list cannot grow once it began: `launch` and the supervisor start nothing while stopping.
   */
  const stopAll = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const child of [...children].reverse()) await child.stop();
    })());
  /** Starts a part and records it, unless the launcher is stopping (a signal during start-up). */
  const launch = (start: () => Child): Child => {
    if (stopping !== undefined) throw new StoppingError('Fanout is stopping');
    const child = start();
    children.push(child);
    return child;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping !== undefined) return;
    process.stdout.write(`\n${signal}: stopping Fanout...\n`);
    void stopAll().then(() => {
      process.stdout.write('Fanout stopped.\n');
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  try {
    const s = readSettings();
    const janusBin = await ensureJanus();
    const logDir = join(s.stateDir, 'logs');
    mkdirSync(logDir, { recursive: true });
    const { bridgeSecret, janusApiSecret } = loadSecrets(s.stateDir);

    // One Janus per local node (every origin and edge whose Janus URL is this machine's), then the
    // bridge, or one agent per local node: planned before Janus starts, since each node's Janus
    // posts its events to the process that drives it.
    let janusPlan: LocalJanus[];
    let control: ControlProcess[];
    try {
      janusPlan = localJanusPlan(s.topology.nodes, s.janusAdminPortOffset);
    } catch (err) {
      if (err instanceof NodePlanError) throw new StartError(err.message);
      throw err;
    }
    const localNodes = janusPlan.map((j) => j.node);
    try {
      control = controlPlan({
        mode: s.control,
        nodes: s.topology.nodes,
        local: new Set(localNodes.map((n) => n.id)),
        settings: { stateDir: s.stateDir, topologyFile: s.topology.file, port: s.bridgePort, bridgeSecret, janusApiSecret, logLevel: s.logLevel },
        agentSecrets: Object.fromEntries(await Promise.all(localNodes.map(async (n) => [n.id, await agentSecret(bridgeSecret, n.id)] as const))),
        inherited: process.env,
      });
    } catch (err) {
      if (err instanceof ControlError) throw new StartError(err.message);
      throw err;
    }

    // Every port must be planned once and free before anything starts.
    const wanted: PortUse[] = [
      ...janusPorts(janusPlan),
      ...control.map((c): PortUse => ({ what: `the ${c.name}`, host: '127.0.0.1', port: c.port })),
      ...(s.worker ? [{ what: 'the worker (wrangler dev)', host: '127.0.0.1', port: s.workerPort }] : []),
    ];
    try {
      checkDistinctPorts(wanted);
    } catch (err) {
      if (err instanceof NodePlanError) throw new StartError(err.message);
      throw err;
    }
    for (const { what, host, port } of wanted) {
      if (!(await portFree(host, port))) throw new StartError(`port ${port} on ${host}, needed by ${what}, is already in use`);
    }

    // Janus nodes.
    const janusNodes: Child[] = [];
    const startJanus = (j: LocalJanus): Child => {
      const node = j.node;
      const dir = join(s.stateDir, 'nodes', node.id);
      writeJanusConfig(
        {
          nodeId: node.id,
          role: node.role,
          wsIp: j.host,
          wsPort: j.port,
          mediaIp: s.janusIp,
          rtpPortRange: j.rtpPortRange,
          logFile: join(logDir, `janus-${node.id}.log`),
          apiSecret: janusApiSecret,
          eventsUrl: eventsUrlFor(control, node.id),
          adminWsPort: j.adminPort,
        },
        dir,
      );
      return new Child({
        name: `janus ${node.id}`,
        command: janusBin,
        args: ['-F', dir, '-N'],
        // Its own folder as working directory: anything Janus writes there (a core dump) stays with the node.
        cwd: dir,
        logFile: join(logDir, `janus-${node.id}.out`),
        killAfterMs: 4000,
      });
    };
    for (const j of janusPlan) janusNodes.push(launch(() => startJanus(j)));
    await Promise.all(janusPlan.map((j, i) => waitFor(janusNodes[i]!, () => janusInfo(`ws://${j.host}:${j.port}`, janusApiSecret), 15_000)));

    // The bridge or the agents. Each one's state folder outlives its processes: the next one
    // re-adopts from it.
    const startControl = (c: ControlProcess): Child =>
      new Child({
        name: c.name,
        command: process.execPath,
        args: ['--import', 'tsx', join(ROOT, 'bridge/main.ts'), ...c.args],
        cwd: ROOT,
        env: c.env,
        logFile: join(logDir, c.logName),
        killAfterMs: 5000,
      });
    const controllers = control.map((c) => {
      mkdirSync(c.stateDir, { recursive: true, mode: 0o700 });
      return launch(() => startControl(c));
    });
    await Promise.all(control.map((c, i) => waitFor(controllers[i]!, () => httpOk(`${c.url}/health`), 20_000)));
    // BRIDGE_URL, the worker's default agent (and stack.json's bridgeUrl, where a one-link reader
    // publishes): an origin's agent, since publishing is accepted only on an origin. Any origin's
    // would do; the first in topology order keeps the choice stable (loadbalancing.xml: 8791).
    const bridgeUrl = primaryUrl(control, s.topology.origins.map((o) => o.id));

    const workerUrl = `http://127.0.0.1:${s.workerPort}`;
    let worker: Child | undefined;
    if (s.worker) {
      worker = launch(() => workerProcess(s, bridgeUrl, agentUrlsVar(control), logDir));
      await waitFor(worker, () => httpOk(`${workerUrl}/health`), 60_000);
    }

    // Up: print where everything is. The demo pages are served at the first origin's host.
    const demoHost = new URL(`http://${s.topology.origins[0]?.host ?? 'origin.localhost'}`).hostname;
    const lines = [
      '',
      'Fanout is up.',
      '',
      ...(worker === undefined
        ? [`  No worker (--no-worker): the Janus nodes and ${s.control === 'agents' ? 'their agents' : 'the bridge'} only.`, '']
        : [
            '  Signalling (WCS WebSocket API):',
            ...s.topology.nodes.map((n) => `    ${n.id.padEnd(8)} ${n.role.padEnd(6)} ws://${n.host}/   (or ws://127.0.0.1:${s.workerPort}/node/${n.id}/ws)`),
            '',
            '  Demo pages:',
            `    Two Way Streaming  http://${demoHost}:${s.workerPort}/two-way-streaming.html`,
            `    Embed Player       http://${demoHost}:${s.workerPort}/embed-player.html`,
            `    CDN status         http://127.0.0.1:${s.workerPort}/status.html`,
            '',
            process.env['FANOUT_TOKEN_KEYS']
              ? '  Access: signed tokens required (npm run token -- --publish NAME; --play NAME)'
              : '  Access: OPEN to anyone (set FANOUT_TOKEN_KEYS to require signed tokens)',
            '',
          ]),
      '  Health:',
      ...[...(worker === undefined ? [] : [{ name: 'worker', url: workerUrl }]), ...control].map((c, _, all) => `    ${c.name.padEnd(Math.max(...all.map((x) => x.name.length)))}  ${c.url}/health`),
      ...s.topology.nodes
        .filter((n) => s.control === 'agents' && !localNodes.includes(n))
        .map((n) => `    (node ${n.id} is not local: its agent runs beside its Janus, not here)`),
      '',
      `  Logs: ${logDir}`,
      '  Ctrl-C stops everything.',
      '',
    ];
    // Whole or not at all (a temporary file renamed over it): it is rewritten at every restart,
    // while tests and tools may be reading it.
    const writeStackJson = (): void => {
      const file = join(s.stateDir, 'stack.json');
      writeFileSync(
        `${file}.tmp`,
        JSON.stringify(
          {
            launcher: process.pid,
            workerUrl,
            control: s.control,
            bridgeUrl,
            agentUrls: agentUrls(control, localNodes.map((n) => n.id)),
            children: children.map((c) => ({ name: c.spec.name, pid: c.pid })),
          },
          null,
          2,
        ),
      );
      renameSync(`${file}.tmp`, file);
    };
    writeStackJson();
    // stack.json first: whoever waits for "Fanout is up." may read it at once.
    process.stdout.write(`${lines.join('\n')}\n`);

    // Supervise: a Janus node, the bridge or an agent that dies is restarted (as a service manager would);
    // the worker dying ends the run.
    const supervise = (child: Child, restart: () => Child, delayMs: number): void => {
      void child.exited.then(async () => {
        if (stopping !== undefined) return;
        process.stdout.write(`${child.spec.name} ${child.describeExit()}${delayMs > 0 ? `; restarting in ${delayMs} ms` : ''}\n`);
        // What the dead child left in its group (its own children) goes before a new one starts.
        await child.stop();
        if (delayMs <= 0) return;
        await sleep(delayMs);
        if (stopping !== undefined) return;
        const next = restart();
        children[children.indexOf(child)] = next;
        writeStackJson();
        process.stdout.write(`${next.spec.name} restarted (pid ${next.pid})\n`);
        supervise(next, restart, delayMs);
      });
    };
    janusPlan.forEach((j, i) => supervise(janusNodes[i]!, () => startJanus(j), s.janusRestartMs));
    control.forEach((c, i) => supervise(controllers[i]!, () => startControl(c), BRIDGE_RESTART_MS));
    void worker?.exited.then(() => {
      if (stopping !== undefined) return;
      process.stderr.write(`${worker.spec.name} ${worker.describeExit()}: stopping Fanout\n${indent(worker.tail())}\n`);
      void stopAll().then(() => process.exit(1));
    });
  } catch (err) {
    // A signal during start-up: its handler stops everything and exits; a part that died of the
    // stop's SIGTERM while starting is not a failure to report.
    if (stopping !== undefined) return;
    const message = err instanceof StartError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`\nFanout failed to start: ${message}\n`);
    if (children.length > 0) process.stderr.write('Stopping what was started...\n');
    await stopAll();
    process.exit(1);
  }
}

await main();
